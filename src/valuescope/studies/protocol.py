"""The study protocol: a typed config with profiles, steps run per model, and the artifacts they return.

A study is a subclass of :class:`Study`, available by name through :mod:`valuescope.studies.registry`.
The run machinery splits its work into units (model x study x step); each step receives a
:class:`UnitContext` and returns :class:`Artifacts`, recorded atomically so a rerun skips them. A step
reads what an earlier step of the same model produced through typed :class:`Output` handles, which each
study declares once in its ``outputs`` module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast, overload

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict

from valuescope.model import Model
from valuescope.stats.metrics import ALL_MODELS, BELOW_GATE, MetricSpec, check_metrics, gate_note

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from valuescope.data.sources import DataSources
    from valuescope.language_model import LanguageModel

Profile = Literal["quick", "demo", "full"]
PROFILES: tuple[Profile, ...] = ("quick", "demo", "full")


class StudyConfig(BaseModel):
    """Base of every study's config: unknown keys and wrong types are errors.

    Subclasses declare fields with their ``demo`` defaults and override them per profile in
    ``PROFILE_OVERRIDES``; ``min_n_per_cell`` states the smallest cell a profile may report on. Every
    field carries a docstring right after it: pydantic keeps it as the field's ``description``, which
    ``valuescope studies --details`` prints.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, use_attribute_docstrings=True
    )

    profile: Profile = "demo"
    """quick (small, for CI), demo (the default: meaningful numbers) or full (research scale)."""
    seed: int = 0
    """Base seed; every unit derives its own from it."""
    min_n_per_cell: int = 10
    """Smallest number of independent units per cell this profile reports on."""

    PROFILE_OVERRIDES: ClassVar[dict[str, dict[str, Any]]] = {}

    def small_cell(self, n: int, what: str) -> str | None:
        """A note when a cell of ``n`` units is below this profile's ``min_n_per_cell``, else None."""
        if n >= self.min_n_per_cell:
            return None
        return f"only {n} {what}, below min_n_per_cell={self.min_n_per_cell} of profile {self.profile}"

    @classmethod
    def for_profile(cls, profile: str = "demo", overrides: Mapping[str, Any] | None = None) -> StudyConfig:
        """The config of ``profile`` with ``overrides`` (e.g. from a YAML file) on top."""
        if profile not in PROFILES:
            raise ValueError(f"profile={profile!r}; choose one of {', '.join(PROFILES)}")
        values: dict[str, Any] = {**cls.PROFILE_OVERRIDES.get(profile, {}), **dict(overrides or {})}
        values["profile"] = profile
        return cls.model_validate(values)


@dataclass
class Artifacts:
    """What one unit produces: named tables, tensors, generations, summary metrics and small JSON data.

    ``metrics`` follow the summary contract (see :mod:`valuescope.stats.metrics`); ``data`` holds
    JSON-able values that later steps of the same model read (a chosen layer, a split).
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    generations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        check_metrics(self.metrics, where)
        for name, table in self.tables.items():
            if not isinstance(table, pd.DataFrame):
                raise TypeError(f"{where}: table {name!r} is a {type(table).__name__}, not a DataFrame")
        for name, tensor in self.tensors.items():
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"{where}: tensor {name!r} is a {type(tensor).__name__}, not a Tensor")


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
"""The type of an :class:`Output`'s value (covariant: a handle on a list serves where an iterable is read)."""
OutputKind = Literal["tables", "tensors", "data", "generations"]
_KIND_WORDS: dict[OutputKind, str] = {
    "tables": "table",
    "tensors": "tensor",
    "data": "data value",
    "generations": "generations",
}


class MissingOutput(LookupError):
    """A step read an output that an earlier step did not produce, or that step has no result."""


@dataclass(frozen=True)
class Output(Generic[T_co]):
    """A typed handle on one named output of a study's step, declared once in the study's ``outputs``
    module: ``RATINGS: Output[pd.DataFrame] = Output("ratings", "ratings", "tables")``. The producing
    step files the value under ``name`` in that part of its :class:`Artifacts`; later steps of the same
    model read it with :meth:`UnitContext.read`, typed as the handle declares."""

    step: str
    name: str
    kind: OutputKind
    study: str | None = None
    """Another study whose step this reads (it must be among the reading study's ``reads``); None: the
    reading step's own study."""

    def __str__(self) -> str:
        of = f"{self.study}'s step" if self.study else "step"
        return f"{_KIND_WORDS[self.kind]} {self.name!r} of {of} {self.step!r}"

    @property
    def key(self) -> str:
        """Where a step's context finds the producing step's artifacts: ``step``, or ``study/step``."""
        return f"{self.study}/{self.step}" if self.study else self.step

    def entries(self, artifacts: Artifacts) -> dict[str, Any]:
        """The part of ``artifacts`` (its tables, tensors or data) this output is filed in."""
        return cast(dict[str, Any], getattr(artifacts, self.kind))


C = TypeVar("C", bound=StudyConfig)
"""A study's own config class: steps and study methods are typed with it."""


@dataclass
class UnitContext(Generic[C]):
    """Everything one step sees: its model (loaded on first use), config, seed, data and earlier steps."""

    study: str
    model: str
    step: str
    config: C
    seed: int
    data: DataSources
    previous: Mapping[str, Artifacts]
    progress: bool
    load: Callable[[], Model]
    open_other: Callable[[str], Model] | None = None
    """Opens another model by name, as ``--model`` would (the run's ``api_models`` included): a judge."""

    @property
    def lm(self) -> Model:
        """The model, local or behind an API: what every model offers (rate, generate)."""
        return self.load()

    @property
    def local(self) -> LanguageModel:
        """The model's internals (residuals, neurons, edits): a local model only. Steps that use it
        declare ``needs="internals"``, so the run never hands them an API model."""
        from valuescope.language_model import LanguageModel

        model = self.load()
        if not isinstance(model, LanguageModel):
            raise TypeError(
                f"step {self.step!r} of {self.study} reads the model's internals, but {self.model} is "
                "served behind an API (rate and generate only); declare the step needs='internals' so "
                "API models skip it"
            )
        return model

    def other_model(self, name: str) -> Model:
        """The model ``name``: an API model the run declares, else ``load_model(name)``."""
        if self.open_other is not None:
            return self.open_other(name)
        from valuescope.language_model import load_model

        return load_model(name)

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def read(self, output: Output[T]) -> T:
        """``output`` of an earlier step of this model; :class:`MissingOutput` names it when absent."""
        entries = output.entries(self._artifacts_of(output))
        if output.name not in entries:
            raise MissingOutput(
                f"step {self.step!r} of {self.study} reads the {output}, which that step did not produce "
                f"for {self.model} (its {output.kind}: {', '.join(sorted(entries)) or 'none'})"
            )
        return cast(T, entries[output.name])

    @overload
    def get(self, output: Output[T]) -> T | None: ...
    @overload
    def get(self, output: Output[T], default: T) -> T: ...
    def get(self, output: Output[T], default: T | None = None) -> T | None:
        """``output``, or ``default`` when its step ran without producing it (a step that did not run
        still raises, as :meth:`read` does)."""
        return cast("T | None", output.entries(self._artifacts_of(output)).get(output.name, default))

    def has(self, output: Output[Any]) -> bool:
        """Whether ``output`` can be read: False also when its step failed, was skipped or is not planned."""
        return output.key in self.previous and output.name in output.entries(self.previous[output.key])

    def _artifacts_of(self, output: Output[Any]) -> Artifacts:
        try:
            return self.previous[output.key]
        except KeyError as e:  # chained: a runner's error for a failed step still marks this one blocked
            raise MissingOutput(
                f"step {self.step!r} of {self.study} reads the {output}, but that step has no result for "
                f"{self.model} (it failed, was skipped or does not run before {self.step!r})"
            ) from e


@dataclass(frozen=True)
class Step:
    """One unit of work per model. ``needs`` says what of the model it uses: ``internals`` steps
    (residuals, neurons, edits) are skipped for API models; ``behaviour`` steps (rate, generate) run
    on any model."""

    name: str
    run: Callable[[UnitContext[Any]], Artifacts]
    needs: Literal["internals", "behaviour", "none"] = "internals"


@dataclass
class Result:
    """A finished study: artifacts per model (and ``"_all"`` across models) and figures drawn from them."""

    study: str
    config: StudyConfig
    per_model: dict[str, Artifacts]
    figures: dict[str, Figure] = field(default_factory=dict)
    findings: dict[str, list[str]] = field(default_factory=dict)
    """Plain-words sentences per model (``Study.findings``)."""

    @property
    def models(self) -> list[str]:
        return [m for m in self.per_model if m != ALL_MODELS]

    def below_gate(self, *metrics: str) -> str | None:
        """The note of the first of ``metrics`` that some model reports as resting on an instrument below
        its validity gate (figures drawn from the same numbers say so), else None."""
        for artifacts in self.per_model.values():
            for name in metrics:
                if (note := gate_note(artifacts.metrics.get(name))) is not None:
                    return note
        return None

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{model: {metric: {...}}}`` for this study."""
        return {m: a.metrics for m, a in self.per_model.items() if a.metrics}

    def table(self, name: str) -> pd.DataFrame:
        """Table ``name`` of every model stacked, with a leading ``model`` column."""
        frames = []
        for model, art in self.per_model.items():
            if name in art.tables:
                frames.append(art.tables[name].assign(model=model))
        if not frames:
            known = sorted({t for a in self.per_model.values() for t in a.tables})
            raise KeyError(f"no table {name!r} in {self.study}; tables: {', '.join(known) or 'none'}")
        out = pd.concat(frames, ignore_index=True)
        return out[["model", *[c for c in out.columns if c != "model"]]]


def mark_below_gate(fig: Figure) -> None:
    """A footer on ``fig``: what it shows rests on an instrument below its validity gate."""
    fig.text(0.5, 0.005, f"{BELOW_GATE}: drawn from figures that are not results", ha="center",
             va="bottom", fontsize=8, color="firebrick")  # fmt: skip


class Study(Generic[C]):
    """Base class of studies. Subclasses name their config class (``Study[MyConfig]``), set the class
    attributes and implement :meth:`steps`."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    reference: ClassVar[str] = ""
    """Plain-text citation (no URL)."""
    Config: ClassVar[type[StudyConfig]] = StudyConfig
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = ()
    """Every metric the study can emit: name, meaning, direction, interval kind (its ``metrics`` module)."""
    metrics: ClassVar[dict[str, str]] = {}
    """Metric name -> one-line description (shown in the report): ``metric_descriptions(metric_specs)``."""
    tables: ClassVar[dict[str, str]] = {}
    """Table name -> caption."""
    figures: ClassVar[dict[str, str]] = {}
    """Figure name -> caption."""
    headline_figure: ClassVar[str | None] = None
    """The figure the report's findings page shows beside the study's findings."""
    reads: ClassVar[tuple[str, ...]] = ()
    """Other studies whose units this one's steps read (``Output(..., study=NAME)``): a plan with this
    study runs them first, for the same models and profile."""
    data_metrics: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Optional external data file (relative to the data folder) -> the metrics that need it. When
    the file is absent those metrics are reported as missing with a note, and the study still runs."""

    def steps(self, config: C) -> list[Step]:
        raise NotImplementedError

    def compare(self, per_model: Mapping[str, Artifacts], config: C, seed: int) -> Artifacts:
        """Metrics and tables across models (recorded under ``"_all"``); none by default."""
        return Artifacts()

    def make_figures(self, result: Result) -> dict[str, Figure]:
        """Figures drawn from the finished artifacts; none by default."""
        return {}

    def findings(self, result: Result) -> dict[str, list[str]]:
        """What the results say in plain words, per model: a few sentences each (shown first in
        the report, escaped). None by default."""
        return {}

    def validity_files(self, config: C) -> dict[str, str]:
        """Instrument name -> a validity table (``valuescope instruments train`` writes one beside the
        heads it trains) for instruments of this config that the run does not validate itself (e.g.
        user-trained heads): its verdict gates their metrics. None by default."""
        return {}

    def instruments_used(self, config: C, artifacts: Artifacts) -> dict[str, str | None]:
        """Which instrument each ``MetricSpec.instrument`` of this study was in one model's run, by its
        validity-table name (None: no instrument, e.g. human labels). By default the one declared."""
        return {s.instrument: s.instrument for s in self.metric_specs if s.instrument is not None}
