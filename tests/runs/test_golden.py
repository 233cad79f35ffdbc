"""The golden run: every study on two tiny models, compared number by number with a summary recorded
before the redesign of issue 18 (one study = one package), so that moving code cannot change a result.

Regenerate only for a change meant to move numbers (or one that adds a study's metrics), and say so in the
commit: ``VALUESCOPE_WRITE_GOLDEN=1 pytest tests/runs/test_golden.py``.

The numbers agree across machines to :data:`MACHINE_RTOL` / :data:`MACHINE_ATOL`, not to float32
rounding: two machines of this project (different SIMD kernels under the same torch and numpy) gave
results up to 0.85% apart, the largest an AUROC over near-tied tiny-model scores (0.5444 vs 0.5424), so
texts are compared with their decimals masked too. A change to a computation moves numbers further.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from test_sweep import assert_same_numbers

from valuescope.runs.config import make_plan
from valuescope.runs.execute import execute

GOLDEN = Path(__file__).parent / "golden" / "all_studies_tiny_summary.json"
MODELS = ["tiny-llama", "tiny-gpt2"]
MACHINE_RTOL = 1e-2
MACHINE_ATOL = 5e-3
CONFIG = """
seed: 11
studies:
  readout-check: {n_pairs: 8, n_boot: 200, n_perm: 50, folds: 4, n_random: 1, min_n_per_cell: 4}
  entanglement: {n_frames: 4, n_random: 3, n_boot: 100, n_perm: 50, n_null: 100, paraphrases: 2}
  mechanisms: {n_queries: 16, max_new_tokens: 12, min_positive: 3, n_boot: 40, n_perm: 30, n_noise: 3,
               damage_texts: 4, diversity_queries: 3, alpha_rule: fixed, alpha: 1.0}
  indifference: {max_lemmas: 120, n_blocks: 6, sae_width: 128, sae_k: 4, sae_steps: 60, sae_batch: 128,
                 repair_steps: 40, min_auroc: 0.55, judge_model: self, n_prompts: 3, max_new_tokens: 6}
  lexicon: {samples: 2, n_prompts: 6, max_new_tokens: 12, completion_tokens: 8, n_boot: 50, n_perm: 50}
"""


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread, so that float reductions do not depend on the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_every_study_on_tiny_models_gives_the_golden_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    monkeypatch.delenv("VALUESCOPE_DATA", raising=False)  # the package's own stimuli only
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    execute(make_plan("all", MODELS, out, config_file=config, profile="quick"), quiet=True)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_units"] == []
    if os.environ.get("VALUESCOPE_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {GOLDEN}")
    golden = json.loads(GOLDEN.read_text())
    assert_same_numbers(golden, summary, rtol=MACHINE_RTOL, atol=MACHINE_ATOL, text_numbers=False)
