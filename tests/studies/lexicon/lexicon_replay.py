"""Recorded generations of the embedded models, replayed as a language model, so the lexicon study can
run offline on real elicited text in seconds.

The fixture ``data/lexicon_generations.jsonl`` was saved from a demo run of both embedded models
(``valuescope run lexicon --model gemma-3-270m --model smollm2-135m-instruct --out RUN``) by
:func:`save_fixture`; run it again after changing the prompts, the primer or the sampling settings.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent / "data" / "lexicon_generations.jsonl"
EMBEDDED = {"gemma-3-270m": False, "smollm2-135m-instruct": True}
"""The recorded models and whether each is instruction-tuned."""
STEPS = ("elicitation", "projective")


class ReplayLM:
    """Answers ``generate`` with the recorded texts of each prompt, in recorded order."""

    def __init__(self, name: str, instruct: bool, records: Sequence[dict[str, Any]]) -> None:
        self.name = name
        self.instruct = instruct
        self._queues: dict[str, deque[str]] = {}
        for r in records:
            self._queues.setdefault(r["prompt"], deque()).append(r["generated"])

    def generate(self, prompts: Sequence[str], **kwargs: Any) -> list[str]:
        out = []
        for p in prompts:
            queue = self._queues.get(p)
            if not queue:
                raise AssertionError(
                    f"{self.name}: no recorded generation left for {p[-60:]!r}; save_fixture"
                )
            out.append(queue.popleft())
        return out


def load_fixture(path: Path = FIXTURE) -> dict[str, ReplayLM]:
    records: dict[str, list[dict[str, Any]]] = {m: [] for m in EMBEDDED}
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        records[r["model"]].append(r)
    return {m: ReplayLM(m, EMBEDDED[m], rs) for m, rs in records.items()}


def save_fixture(run: Path, path: Path = FIXTURE) -> None:
    """Copy the prompts and raw generations of a demo run's lexicon units into the fixture."""
    lines = []
    for model in EMBEDDED:
        for step in STEPS:
            source = run / "generations" / f"lexicon__{model}__{step}.jsonl"
            for line in source.read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                lines.append(
                    json.dumps(
                        {
                            "model": model,
                            "step": step,
                            "prompt": r["prompt"],
                            "generated": r.get("generated", r.get("completion")),
                        }
                    )
                )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
