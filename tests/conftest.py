"""Shared fixtures: tiny models (one per family) and the real embedded models, loaded once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import pytest

from valuescope import LanguageModel, load_model
from valuescope.data.csvfile import StimulusError
from valuescope.data.sources import DATA_ENV

TINY = [
    "tiny-gpt2", "tiny-llama", "tiny-qwen3", "tiny-gemma3", "tiny-gptneox",
    "tiny-mistral", "tiny-qwen2", "tiny-phi3", "tiny-olmo2", "tiny-gemma2",
]  # fmt: skip
_loaded: dict[str, LanguageModel] = {}
FAST_ENV = "VALUESCOPE_TEST_FAST"
"""Set by ``make test-fast``: loading an embedded model is then an error (the test must be marked real)."""
REAL_FIXTURES = {"gemma", "smollm"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that take an embedded model through a fixture are ``real`` without saying so; the
    ``slow`` ones (other processes) go first, so that parallel workers do not wait on them at the end."""
    for item in items:
        if REAL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def get_model(name: str) -> LanguageModel:
    """Load once per test session. Tests must leave no intervention active."""
    if name not in _loaded and not name.startswith("tiny-") and os.environ.get(FAST_ENV):
        pytest.fail(f"this test loads the embedded model {name}: mark it @pytest.mark.real")
    if name not in _loaded:
        _loaded[name] = load_model(name)
    lm = _loaded[name]
    assert not lm.active_interventions, f"a previous test left an intervention active on {name}"
    return lm


def leftover_hooks(lm: LanguageModel) -> list[str]:
    """Modules of ``lm`` that still carry a hook or a patched ``forward``."""
    from torch.nn.modules import module as nn_module

    from valuescope.readout.capture import is_inert_hook

    found = [
        name or "(model)"
        for name, m in lm.model.named_modules()
        if any(not is_inert_hook(h) for h in m._forward_hooks.values())
        or m._forward_pre_hooks
        or "forward" in m.__dict__
    ]
    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        found.append("(torch global hooks)")
    return found


@pytest.fixture(autouse=True)
def _no_hooks_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Models are shared between tests: one that leaves a hook would change every later test's numbers."""
    yield
    from valuescope.readout.capture import is_inert_hook

    for name, lm in _loaded.items():
        left = leftover_hooks(lm)
        if left:
            for m in lm.model.modules():  # clean up so that only this test fails
                for key in [k for k, h in m._forward_hooks.items() if not is_inert_hook(h)]:
                    del m._forward_hooks[key]
                m._forward_pre_hooks.clear()
                m.__dict__.pop("forward", None)
            pytest.fail(f"{request.node.nodeid} left hooks on {name}: {left[:5]}")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and a second thread stalls on a shared, busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=TINY)
def tiny(request: pytest.FixtureRequest) -> LanguageModel:
    return get_model(request.param)


@pytest.fixture
def gemma() -> LanguageModel:
    return get_model("gemma-3-270m")


@pytest.fixture
def smollm() -> LanguageModel:
    return get_model("smollm2-135m-instruct")


TEXTS = [
    "Helping a stranger carry groceries.",
    "He lied.",
    "The committee postponed the vote until next week again.",
    "Rate it from 1 to 7: 4",
]


@pytest.fixture
def shared_data() -> Path:
    """The real third-party data: ``$VALUESCOPE_DATA``, else ``<repo>/../shared/data``; skip if absent."""
    env = os.environ.get(DATA_ENV)
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"no shared data folder at {root} (set {DATA_ENV})")
    return root


def raises(loader: Callable[[Path], object], path: Path, row: int, column: str, *words: str) -> str:
    """The StimulusError ``loader(path)`` raises, checked to name the file, ``row`` and ``column`` and to
    contain ``words``."""
    with pytest.raises(StimulusError) as e:
        loader(path)
    message = str(e.value)
    assert message.startswith(f"{path}: row {row}"), message
    assert f"column {column!r}" in message.split(":")[1], message
    for word in words:
        assert word in message, message
    return message


def collapsed_items(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two foundations x two poles whose vice direction nearly equals the virtue one, in a 4-D
    subspace of R^12 (the first four axes); ground-truth targets are one-hot times typicality."""
    rng = np.random.default_rng(seed)
    d = 12
    u = np.eye(d)
    directions = {0: u[0], 1: 0.95 * u[0] + 0.3 * u[2], 2: u[1], 3: 0.95 * u[1] + 0.3 * u[3]}
    cls = rng.integers(0, 4, n)
    typ = rng.uniform(0.2, 1.0, n)
    x = np.stack([typ[i] * directions[c] for i, c in enumerate(cls)])
    x[:, 4:] += 0.3 * rng.standard_normal((n, d - 4))
    targets = np.zeros((n, 4))
    targets[np.arange(n), cls] = typ
    return x, targets, cls
