"""Steering, ablation and neuron scaling: exact effects, clean exits, nesting."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from conftest import TEXTS, get_model

from valuescope import LanguageModel


def last_logits(lm: LanguageModel) -> torch.Tensor:
    enc = lm.tokenizer(TEXTS[2], return_tensors="pt")
    with torch.no_grad():
        return lm.model(**enc).logits[0, -1]


def read(lm: LanguageModel, layers: list[int], pool: str = "last") -> torch.Tensor:
    out = lm.residuals(TEXTS, layers=layers, pool=pool)
    assert isinstance(out, torch.Tensor)
    return out


def random_direction(lm: LanguageModel, seed: int = 0) -> torch.Tensor:
    return torch.randn(lm.d_model, generator=torch.Generator().manual_seed(seed))


def test_raw_steer_adds_the_vector_at_its_read_point_on_every_token(tiny: LanguageModel) -> None:
    v = random_direction(tiny)
    base = tiny.residuals(TEXTS, layers=[2], pool="all")
    with tiny.steer(v, layers=[2], alpha=3.0, raw=True):
        steered = tiny.residuals(TEXTS, layers=[2], pool="all")
    diff = steered.values - base.values  # type: ignore[union-attr]
    mask = base.mask  # type: ignore[union-attr]
    torch.testing.assert_close(diff[:, 0][mask], (3.0 * v).expand(int(mask.sum()), -1), rtol=1e-4, atol=1e-4)


def test_steer_alpha_is_in_units_of_the_mean_residual_norm(tiny: LanguageModel) -> None:
    v = random_direction(tiny)
    steer = tiny.steer(v, layers=[1, 3], alpha=2.0)
    for rp in (1, 3):
        expected = 2.0 * tiny.mean_residual_norm(rp)
        assert float(steer.added(rp).norm()) == pytest.approx(expected, rel=1e-5)
    base = read(tiny, [3])
    with steer:
        moved = read(tiny, [3])
    assert float((moved - base).norm(dim=-1).mean()) > 0.5 * tiny.mean_residual_norm(3)


def test_steer_at_last_position_leaves_earlier_tokens_alone() -> None:
    lm = get_model("tiny-llama")
    v = random_direction(lm)
    base = lm.residuals(TEXTS, layers=[2], pool="all")
    with lm.steer(v, layers=[2], alpha=1.0, positions="last", raw=True):
        steered = lm.residuals(TEXTS, layers=[2], pool="all")
    diff = (steered.values - base.values)[:, 0].norm(dim=-1)  # type: ignore[union-attr]
    for i in range(len(TEXTS)):
        n = len(lm.tokenizer(TEXTS[i])["input_ids"])
        assert float(diff[i, : n - 1].max()) < 1e-5
        assert float(diff[i, n - 1]) == pytest.approx(float(v.norm()), rel=1e-4)


def test_ablation_leaves_no_projection_downstream(tiny: LanguageModel) -> None:
    d = random_direction(tiny)
    u = d / d.norm()
    with tiny.ablate(d, layers=list(range(tiny.n_layers + 1))):
        out = read(tiny, list(range(tiny.n_layers + 1)), pool="mean")
    assert float((out @ u).abs().max()) < 1e-4 * float(out.norm(dim=-1).max())


def test_mean_ablation_sets_the_component_to_its_reference_mean(tiny: LanguageModel) -> None:
    d = random_direction(tiny, seed=2)
    u = d / d.norm()
    points = list(range(tiny.n_layers + 1))
    ablate = tiny.ablate(d, layers=points, center="reference")
    with ablate:
        out = tiny.residuals(TEXTS, layers=points, pool="all")
    values, mask = out.values, out.mask  # type: ignore[union-attr]
    for j, rp in enumerate(points):
        expected = float(tiny.mean_residual(rp) @ u)
        assert ablate.centers[rp] == pytest.approx(expected, rel=1e-5, abs=1e-6)
        got = values[:, j][mask] @ u
        torch.testing.assert_close(got, torch.full_like(got, expected), rtol=1e-4, atol=1e-4)


def test_mean_residual_is_the_mean_over_the_reference_texts_own_tokens(tiny: LanguageModel) -> None:
    from valuescope.language_model import reference_texts

    out = tiny.residuals(reference_texts(), layers=[2], pool="all")
    values, mask = out.values[:, 0], out.mask  # type: ignore[union-attr]
    torch.testing.assert_close(tiny.mean_residual(2), values[mask].mean(0), rtol=1e-4, atol=1e-5)


def test_center_by_read_point_and_bad_centers() -> None:
    lm = get_model("tiny-llama")
    d = random_direction(lm, seed=3)
    u = d / d.norm()
    with lm.ablate(d, layers=[-1], center={-1: 0.7}):
        out = read(lm, [lm.n_layers])
    torch.testing.assert_close(out[:, 0] @ u, torch.full((len(TEXTS),), 0.7), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="no value for read points"):
        lm.ablate(d, layers=[1, 2], center={1: 0.0})
    with pytest.raises(ValueError, match="'reference'"):
        lm.ablate(d, layers=[1], center="mean")


def test_keep_special_leaves_bos_positions_exactly_as_they_were() -> None:
    lm = get_model("tiny-gemma3")  # its tokenizer adds a BOS
    d = random_direction(lm, seed=4)
    u = d / d.norm()
    ids = lm.tokenizer(TEXTS[0])["input_ids"]
    assert ids[0] == lm.tokenizer.bos_token_id and ids[0] in lm.special_token_ids
    points = list(range(lm.n_layers + 1))
    base = lm.residuals(TEXTS, layers=points, pool="all")
    with lm.ablate(d, layers=points, keep_special=True):
        kept = lm.residuals(TEXTS, layers=points, pool="all")
    b, k = base.values, kept.values  # type: ignore[union-attr]
    torch.testing.assert_close(k[:, :, 0], b[:, :, 0])  # BOS untouched at every read point
    mask = kept.mask  # type: ignore[union-attr]
    assert float((k[:, -1][mask] @ u).abs().max()) < 1e-4 * float(k[:, -1].norm(dim=-1).max())
    with lm.ablate(d, layers=points):
        plain = lm.residuals(TEXTS, layers=[0], pool="all")
    assert float((plain.values[:, 0, 0] @ u).abs().max()) < 1e-4  # type: ignore[union-attr]


def test_keep_special_also_holds_during_generation_with_left_padding() -> None:
    lm = get_model("tiny-gemma3")
    d = random_direction(lm, seed=5)
    u = d / d.norm()
    prompts = ["Hello there", "A much longer prompt than the other one here"]
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    ids_seen: list[torch.Tensor] = []

    def ids_hook(_m: Any, args: tuple[Any, ...]) -> None:
        ids_seen.append(args[0].detach().clone())

    def out_hook(_m: Any, _a: Any, out: Any) -> None:
        h = out if isinstance(out, torch.Tensor) else out[0]
        seen.append((ids_seen[-1], h.detach().clone()))

    with lm.ablate(d, layers=list(range(lm.n_layers + 1)), keep_special=True):
        handles = [  # registered after the ablation's hooks, so they see the edited stream
            lm.layout.embed.register_forward_pre_hook(ids_hook),
            lm.layout.blocks[0].register_forward_hook(out_hook),
        ]
        try:
            batched = lm.generate(prompts, max_new_tokens=5)
        finally:
            for h in handles:
                h.remove()
        single = [lm.generate([p], max_new_tokens=5)[0] for p in prompts]
    assert batched == single
    ids, h = seen[0]  # the left-padded prefill
    assert ids.shape[0] == 2 and ids.shape[1] > 2
    special = torch.isin(ids, torch.tensor(sorted(lm.special_token_ids)))
    bos = ids == lm.tokenizer.bos_token_id
    assert bos.sum() == 2 and not bos[:, 0].all()  # one row is left-padded: its BOS is not at 0
    proj = (h @ u).abs()
    assert float(proj[bos].min()) > 1e-3  # BOS kept, wherever padding puts it
    assert float(proj[~special].max()) < 1e-4 * float(h.norm(dim=-1).max())  # the rest ablated
    for ids, h in seen[1:]:  # decoding steps: one new (non-special) token per row
        assert ids.shape[1] == 1
        assert float((h @ u)[~torch.isin(ids, torch.tensor(sorted(lm.special_token_ids)))].abs().max()) < 1e-3


def test_ablation_fingerprint_names_center_and_kept_positions(tiny: LanguageModel) -> None:
    d = random_direction(tiny)
    plain = tiny.ablate(d, layers=[1]).fingerprint()
    assert "centers" not in plain and "keep_special" not in plain
    other = tiny.ablate(d, layers=[1], center=0.5, keep_special=True).fingerprint()
    assert other["centers"] == [0.5] and other["keep_special"] is True


def test_ablation_with_sublayers_keeps_the_direction_out_of_every_later_read_point(
    tiny: LanguageModel,
) -> None:
    d = random_direction(tiny, seed=1)
    u = d / d.norm()
    base = read(tiny, list(range(1, tiny.n_layers + 1)))
    assert float((base @ u).abs().max()) > 1e-2  # the direction is there to begin with
    with tiny.ablate(d, layers=[1], sublayers=True):
        out = read(tiny, list(range(1, tiny.n_layers + 1)))
    assert float((out @ u).abs().max()) < 1e-4 * float(out.norm(dim=-1).max())
    with tiny.ablate(d, layers=[1], sublayers=False):
        leaky = read(tiny, [tiny.n_layers])
    assert float((leaky @ u).abs().max()) > 1e-3  # without sublayers it re-enters


def _subspace(lm: LanguageModel, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(lm.d_model, k, generator=g))[0].T.contiguous()
    matrix = torch.eye(k) + 0.5 * torch.randn(k, k, generator=g)
    return basis, matrix


def test_subspace_edit_maps_the_subspace_coordinates_and_leaves_the_complement(tiny: LanguageModel) -> None:
    basis, matrix = _subspace(tiny, 3)
    center = random_direction(tiny, seed=4)
    base = tiny.residuals(TEXTS, layers=[2], pool="all")
    edit = tiny.edit_subspace(basis, matrix, layers=[2], center=center)
    with edit:
        edited = tiny.residuals(TEXTS, layers=[2], pool="all")
    mask = base.mask  # type: ignore[union-attr]
    h, e = base.values[:, 0][mask], edited.values[:, 0][mask]  # type: ignore[union-attr]
    torch.testing.assert_close(
        (e - center) @ basis.T, ((h - center) @ basis.T) @ matrix.T, rtol=1e-4, atol=1e-4
    )
    complement = torch.eye(tiny.d_model) - basis.T @ basis
    torch.testing.assert_close(e @ complement, h @ complement, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(edit.apply(h), e, rtol=1e-4, atol=1e-4)
    assert edit.edit_norm() == pytest.approx(float((matrix - torch.eye(3)).norm()), rel=1e-6)


def test_identity_subspace_edit_changes_nothing_and_bad_bases_are_refused() -> None:
    lm = get_model("tiny-llama")
    basis, _ = _subspace(lm, 2)
    before = last_logits(lm)
    with lm.edit_subspace(basis, torch.eye(2), layers=[1]):
        torch.testing.assert_close(last_logits(lm), before, rtol=1e-5, atol=1e-5)
    base = lm.residuals(TEXTS, layers=[1], pool="all")
    with lm.edit_subspace(basis, 3 * torch.eye(2), layers=[1]):
        edited = lm.residuals(TEXTS, layers=[1], pool="all")
    first = lm.tokenizer(TEXTS[0])["input_ids"][0]
    assert first in lm.special_token_ids  # BOS: left as it was
    torch.testing.assert_close(edited.values[:, 0, 0], base.values[:, 0, 0])  # type: ignore[union-attr]
    assert not torch.allclose(edited.values[:, 0, 1], base.values[:, 0, 1])  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="orthonormal"):
        lm.edit_subspace(2 * basis, torch.eye(2), layers=[1])
    with pytest.raises(ValueError, match="matrix has shape"):
        lm.edit_subspace(basis, torch.eye(3), layers=[1])


def test_leaving_a_context_restores_bit_identical_logits(tiny: LanguageModel) -> None:
    before = last_logits(tiny)
    d = random_direction(tiny)
    with (
        tiny.ablate(d, layers=[1], sublayers=True),
        tiny.steer(d, layers=[2], alpha=1.0),
        tiny.scale_neurons({0: [0, 1, 2]}, 0.0),
    ):
        inside = last_logits(tiny)
    assert not torch.equal(before, inside)
    assert torch.equal(before, last_logits(tiny))
    assert tiny.active_interventions == []


def hook_count(lm: LanguageModel) -> int:
    """Hooks on every module (transformers keeps some of its own; we compare counts)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in lm.model.modules())


def test_hooks_are_removed_when_the_body_raises() -> None:
    lm = get_model("tiny-gemma3")
    before = last_logits(lm)
    hooks = hook_count(lm)
    with pytest.raises(RuntimeError, match="boom"), lm.steer(random_direction(lm), layers=[1], alpha=5.0):
        raise RuntimeError("boom")
    assert torch.equal(before, last_logits(lm))
    assert hook_count(lm) == hooks


def test_nested_steers_add_up_and_an_intervention_cannot_be_entered_twice() -> None:
    lm = get_model("tiny-gpt2")
    v, w = random_direction(lm, 1), random_direction(lm, 2)
    base = read(lm, [2])
    with lm.steer(v, layers=[2], raw=True) as outer, lm.steer(w, layers=[2], raw=True):
        both = read(lm, [2])
        with pytest.raises(RuntimeError, match="already active"):
            outer.__enter__()
    torch.testing.assert_close(both - base, (v + w).expand_as(base), rtol=1e-4, atol=1e-4)


def test_a_suspended_edit_computes_unedited_and_comes_back_in_its_order() -> None:
    lm = get_model("tiny-gpt2")
    v, w = random_direction(lm, 1), random_direction(lm, 2)
    base = read(lm, [2])
    with lm.steer(v, layers=[2], raw=True) as first, lm.steer(w, layers=[2], raw=True) as second:
        both = read(lm, [2])
        with first.suspended():
            torch.testing.assert_close(read(lm, [2]) - base, w.expand_as(base), rtol=1e-4, atol=1e-4)
            assert lm.active_interventions == [first, second]
        with second.suspended(), first.suspended():
            torch.testing.assert_close(read(lm, [2]), base)
        torch.testing.assert_close(read(lm, [2]), both)
    torch.testing.assert_close(read(lm, [2]), base)


def test_scale_neurons_by_one_changes_nothing_and_zero_silences_them(tiny: LanguageModel) -> None:
    before = read(tiny, [tiny.n_layers])
    with tiny.scale_neurons({1: [0, 5]}, 1.0):
        assert torch.equal(read(tiny, [tiny.n_layers]), before)
    with tiny.scale_neurons({1: [0, 5]}, 0.0):
        acts = tiny.neurons(TEXTS, blocks=[1], pool="all")
    assert float(acts.values[:, 0, :, [0, 5]].abs().max()) == 0.0  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["tiny-gemma3", "tiny-gemma2", "tiny-olmo2", "tiny-llama", "tiny-gpt2"])
def test_a_lone_neuron_writes_along_its_effective_write_direction(name: str) -> None:
    """Only neuron j active in block b: the block's MLP contribution is parallel to its direction.

    For Gemma the contribution passes the post-feed-forward norm, so the direction must include
    that norm's gain (1 + w); without it the cosine drops well below one.
    """
    lm = get_model(name)
    block, j = 1, 7
    others = [i for i in range(lm.layout.n_neurons(block)) if i != j]
    with lm.scale_neurons({block: others}, 0.0):
        lone = read(lm, [block + 1])
        with lm.scale_neurons({block: [j]}, 0.0):
            silent = read(lm, [block + 1])
    delta = (lone - silent)[:, 0]
    direction = lm.neuron_write_directions(block)[j]
    cos = torch.nn.functional.cosine_similarity(delta, direction.expand_as(delta), dim=-1).abs()
    if lm.layout.spec.post_mlp_norm is None:
        # Without a post-norm the MLP bias (if any) cancels in the difference: exactly parallel.
        assert float(cos.min()) > 1 - 1e-4
    else:
        # RMSNorm(a * w_j) = sign(a) * g * w_j / rms(w_j): exactly parallel to g * w_j.
        assert float(cos.min()) > 1 - 1e-4
        raw_dir = lm.layout.down_weight(block)[:, j]
        raw_cos = torch.nn.functional.cosine_similarity(delta, raw_dir.expand_as(delta), dim=-1).abs()
        assert float(raw_cos.max()) < 0.99
    assert lm.layout.mlp_post_norm == (name in ("tiny-gemma3", "tiny-gemma2", "tiny-olmo2"))


def test_damage_is_zero_for_a_no_op_and_positive_for_a_real_edit() -> None:
    lm = get_model("tiny-llama")
    none = lm.damage(lm.scale_neurons({0: [0]}, 1.0))
    assert none["kl_mean"] == pytest.approx(0.0, abs=1e-6) and none["ppl_ratio"] == pytest.approx(1.0)
    hurt = lm.damage(lm.steer(random_direction(lm), layers=[1], alpha=4.0))
    assert hurt["kl_ci_low"] <= hurt["kl_mean"] <= hurt["kl_ci_high"]
    assert hurt["kl_mean"] > 1e-3 and hurt["ppl_edit"] != hurt["ppl_base"]
    assert lm.active_interventions == []


@pytest.mark.parametrize(
    ("name", "hook_head"),
    [("tiny-qwen3", False), ("tiny-gpt2", False), ("tiny-gemma2", False), ("tiny-llama", True)],
    ids=["affine-head", "tied-head", "softcapped-head", "hooked-head"],
)
def test_damage_matches_a_direct_computation(name: str, hook_head: bool) -> None:
    """KL and perplexity against the full log-softmax of the model's own logits: the affine-head shortcut
    (qwen3, gpt2), the softcap (gemma2) and a hook on the head (the full sum over the vocabulary)."""
    from valuescope.readout.damage import damage

    lm = get_model(name)
    edit = lm.steer(random_direction(lm), layers=[2], alpha=2.0)
    texts = [TEXTS[0], TEXTS[2], TEXTS[1]]
    handle = (
        lm.layout.lm_head.register_forward_hook(lambda _m, _i, out: out * 0.5 + 0.1) if hook_head else None
    )
    try:
        got = damage(lm, edit, texts, batch_size=2)  # two batches, one of them padded
        kls, nll_p, nll_q, n_tok = [], 0.0, 0.0, 0
        for t in texts:
            enc = lm.tokenizer(t, return_tensors="pt")
            ids = enc["input_ids"][0, 1:]
            with torch.no_grad():
                p = lm.model(**enc).logits[0, :-1].double().log_softmax(-1)
                with edit:
                    q = lm.model(**enc).logits[0, :-1].double().log_softmax(-1)
            kls.append(float((p.exp() * (p - q)).sum(-1).mean()))
            nll_p -= float(p[torch.arange(len(ids)), ids].sum())
            nll_q -= float(q[torch.arange(len(ids)), ids].sum())
            n_tok += len(ids)
    finally:
        if handle is not None:
            handle.remove()
    assert got["kl_mean"] == pytest.approx(sum(kls) / len(texts), rel=1e-4, abs=1e-6)
    assert got["kl_mean"] > 1e-3
    assert got["ppl_ratio"] == pytest.approx(math.exp((nll_q - nll_p) / n_tok), rel=1e-5)
    assert got["n_tokens"] == n_tok


def test_damage_meter_reuses_the_unedited_pass_and_matches_damage() -> None:
    from valuescope.readout.damage import DamageMeter

    lm = get_model("tiny-qwen3")
    texts = [TEXTS[0], TEXTS[2], TEXTS[1]]
    meter = DamageMeter(lm, texts)
    for alpha in (1.0, 3.0):
        edit = lm.steer(random_direction(lm), layers=[2], alpha=alpha)
        once, again = lm.damage(edit, texts=texts), meter(edit)
        for key in ("kl_mean", "kl_ci_low", "kl_ci_high", "ppl_ratio", "n_tokens"):
            assert again[key] == pytest.approx(once[key], rel=1e-5, abs=1e-7), key
    assert meter._base is not None and len(meter._base) == len(meter.batches)
    with lm.steer(random_direction(lm), layers=[1]), pytest.raises(RuntimeError, match="no intervention"):
        DamageMeter(lm, texts)(lm.steer(random_direction(lm), layers=[2]))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda lm: lm.steer(torch.zeros(lm.d_model), layers=[1]), "all zeros"),
        (lambda lm: lm.steer(torch.ones(3), layers=[1]), "shape"),
        (lambda lm: lm.ablate(torch.ones(lm.d_model), layers=[lm.n_layers + 1]), "out of range"),
        (lambda lm: lm.scale_neurons({0: [10_000]}, 0.0), "outside"),
        (lambda lm: lm.scale_neurons({9: [1]}, 0.0), "out of range"),
        (lambda lm: lm.steer(torch.ones(lm.d_model), layers=[1], positions="first"), "positions"),
    ],
)
def test_bad_edits_are_refused_before_any_hook_is_placed(make, message: str) -> None:  # type: ignore[no-untyped-def]
    lm = get_model("tiny-gpt2")
    hooks = hook_count(lm)
    with pytest.raises((ValueError, TypeError), match=message):
        make(lm)
    assert hook_count(lm) == hooks


@pytest.mark.real
def test_gemma_ablation_and_damage(gemma: LanguageModel) -> None:
    d = random_direction(gemma)
    u = d / d.norm()
    with gemma.ablate(d, layers=list(range(19))):
        out = read(gemma, [9, 18])
    assert float((out @ u).abs().max()) < 1e-3 * float(out.norm(dim=-1).max())
    cost = gemma.damage(gemma.ablate(d, layers=[6], sublayers=True), texts=TEXTS)
    assert cost["kl_mean"] >= 0 and cost["ppl_base"] > 1
