"""Run configuration: the YAML file, profiles and per-study configs, resolved into a :class:`RunPlan`.

A config file (all keys optional)::

    profile: quick            # quick | demo | full (the --profile option wins)
    seed: 0                   # base seed of every study
    data: /path/to/data       # like VALUESCOPE_DATA
    api_models:               # models behind an OpenAI-compatible server, usable as --model NAME
      local-llama: {base_url: "http://127.0.0.1:8080/v1", model: "smollm2", api_key_env: MY_KEY}
    model_options:            # keyword arguments of load_model per --model
      big-org/big-model: {device_map: auto, dtype: bfloat16}
    studies:
      readout-check: {n_pairs: 24}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from valuescope.studies.protocol import PROFILES, Profile, StudyConfig
from valuescope.studies.registry import get_study, studies, with_reads


class RunFile(BaseModel):
    """The top level of a run config file."""

    model_config = ConfigDict(extra="forbid")

    profile: Profile | None = None
    seed: int | None = None
    data: str | None = None
    api_models: dict[str, dict[str, Any]] = {}
    model_options: dict[str, dict[str, Any]] = {}
    studies: dict[str, dict[str, Any]] = {}


class ConfigError(ValueError):
    """A config file or option that cannot be used; the message names the file and key."""


def format_validation(error: ValidationError, where: str) -> str:
    """One line per problem: ``where: key.path: message (got value)``."""
    lines = []
    for e in error.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key; check its spelling against `valuescope studies --details`"
        got = f" (got {e['input']!r})" if e["type"] not in ("extra_forbidden", "missing") else ""
        lines.append(f"{where}: {path}: {msg}{got}")
    return "; ".join(lines)


def yaml_error(error: yaml.YAMLError, path: Path) -> ConfigError:
    """A one-line error for a YAML syntax problem: file, line and what the parser expected."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return ConfigError(f"{where}: not valid YAML ({problem})")


def load_run_file(path: str | Path | None) -> RunFile:
    """Parse and validate a run config file; a missing path gives the empty config."""
    if path is None:
        return RunFile()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text("utf-8"))
    except yaml.YAMLError as e:
        raise yaml_error(e, p) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, got {type(raw).__name__}")
    try:
        run_file = RunFile.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation(e, str(p))) from None
    known = studies()
    for name in run_file.studies:
        if name not in known:
            raise ConfigError(f"{p}: studies.{name}: unknown study; known: {', '.join(known)}")
    return run_file


def study_config(
    name: str, profile: str, overrides: dict[str, Any], seed: int | None, where: str
) -> StudyConfig:
    """Resolve one study's config; validation errors name ``where`` and the key."""
    study = get_study(name)
    values = dict(overrides)
    if seed is not None and "seed" not in values:
        values["seed"] = seed
    try:
        return study.Config.for_profile(profile, values)
    except ValidationError as e:
        raise ConfigError(format_validation(e, f"{where}: studies.{name}")) from None


@dataclass
class RunPlan:
    """Everything a run needs, resolved: output folder, models, study configs, data and API models."""

    out: Path
    models: list[str]
    configs: dict[str, StudyConfig]
    data_root: str | None = None
    api_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    command: str = ""
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def make_plan(
    study: str,
    models: list[str],
    out: str | Path,
    *,
    config_file: str | Path | None = None,
    profile: str | None = None,
    data: str | Path | None = None,
    command: str = "",
) -> RunPlan:
    """Resolve ``valuescope run STUDY|all`` arguments into a plan, failing before any model work."""
    if study != "all" and study not in studies():
        raise ConfigError(f"unknown study {study!r}; known: {', '.join(studies())} (or `all`)")
    names = list(studies()) if study == "all" else with_reads([study])
    where = str(config_file) if config_file else "config"
    return build_plan(names, models, out, load_run_file(config_file), profile, data, command, where)


def build_plan(
    names: list[str],
    models: list[str],
    out: str | Path,
    run_file: RunFile,
    profile: str | None,
    data: str | Path | None,
    command: str,
    where: str,
) -> RunPlan:
    """A plan for studies ``names`` on ``models`` from a validated run file (CLI options win)."""
    if not models:
        raise ConfigError("no model given; pass --model NAME (repeat for several models)")
    if len(set(models)) != len(models):
        raise ConfigError(f"--model lists a model twice: {models}")
    chosen = profile or run_file.profile or "demo"
    if chosen not in PROFILES:
        raise ConfigError(f"--profile {chosen!r}; choose one of {', '.join(PROFILES)}")
    known = studies()
    for n in names:
        if n not in known:
            raise ConfigError(f"{where}: unknown study {n!r}; known: {', '.join(known)}")
    configs = {n: study_config(n, chosen, run_file.studies.get(n, {}), run_file.seed, where) for n in names}
    data_root = str(data) if data is not None else run_file.data
    _check_api_models(run_file.api_models, where)
    _check_model_options(run_file.model_options, where)
    return RunPlan(
        Path(out),
        list(models),
        configs,
        data_root,
        dict(run_file.api_models),
        command,
        dict(run_file.model_options),
    )


def _check_api_models(api_models: dict[str, dict[str, Any]], where: str) -> None:
    from valuescope.runs.backends.openai.spec import ApiSpec

    for name, values in api_models.items():
        try:
            ApiSpec(name=name, **values)
        except ValidationError as e:
            raise ConfigError(format_validation(e, f"{where}: api_models.{name}")) from None
        except TypeError as e:
            raise ConfigError(f"{where}: api_models.{name}: {e}") from None


LOAD_OPTIONS = ("device", "dtype", "device_map", "trust_remote_code")


def _check_model_options(options: dict[str, dict[str, Any]], where: str) -> None:
    for name, values in options.items():
        unknown = [k for k in values if k not in LOAD_OPTIONS]
        if unknown:
            raise ConfigError(
                f"{where}: model_options.{name}.{unknown[0]}: unknown key; use {', '.join(LOAD_OPTIONS)}"
            )
