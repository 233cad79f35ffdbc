"""Everything a plan names, checked before any unit starts: one :class:`ConfigError` lists every problem.

Checked: the study names; every ``--model`` (a registry name, an existing path, a Hub id in the
local cache when offline, or an ``api_models`` entry whose spec is valid, whose key variable is set
and whose server answers); every study-config field that names a model (``*_model``: a run model,
an ``api_models`` name, or a loadable name); ``model_options``; the data folder; and every data file a
study config names (a ``str | None`` field without a default that is not a model), including the
data-folder files that a keyword such as ``prompts: flames`` stands for. A plain ``http://`` API
server on another machine gets a warning.
"""

from __future__ import annotations

import types
import typing
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from valuescope.data.flames import FLAMES_FILE
from valuescope.data.socialchem import SOCIAL_CHEM_FILE
from valuescope.data.sources import DataSources
from valuescope.runs.config import LOAD_OPTIONS, ConfigError, RunPlan, format_validation
from valuescope.studies.protocol import StudyConfig
from valuescope.studies.registry import studies

SELF = "self"
"""A model field's value meaning the model under study."""

KEYWORDS: dict[str, dict[str, str]] = {"prompts": {"flames": FLAMES_FILE}}
"""Data-file fields whose value may be a keyword standing for a file under the data folder."""


def model_fields(config: StudyConfig) -> dict[str, str]:
    """The config's fields that name a model (``*_model``) and are set, with their values."""
    return {
        name: value
        for name in type(config).model_fields
        if name.endswith("_model") and isinstance(value := getattr(config, name), str)
    }


def data_fields(config: StudyConfig) -> dict[str, str]:
    """The config's fields that name a data file or folder, and are set: ``str | None`` fields whose
    default is None and that do not name a model."""
    out = {}
    for name, info in type(config).model_fields.items():
        value = getattr(config, name)
        if name.endswith("_model") or info.default is not None or not isinstance(value, str):
            continue
        if _is_optional_str(info.annotation):
            out[name] = value
    return out


def _is_optional_str(annotation: Any) -> bool:
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return False
    return set(typing.get_args(annotation)) == {str, type(None)}


def check_plan(plan: RunPlan) -> None:
    """Raise one :class:`ConfigError` listing every problem of ``plan`` (see the module docstring)."""
    problems = list(_problems(plan))
    if problems:
        if len(problems) == 1:
            raise ConfigError(f"the run cannot start: {problems[0]}")
        listing = "".join(f"\n  - {p}" for p in problems)
        raise ConfigError(f"the run cannot start; {len(problems)} problems:{listing}")


def _problems(plan: RunPlan) -> Iterator[str]:
    from valuescope.models.loader import check_model_name
    from valuescope.runs.backends.openai.model import ApiModel
    from valuescope.runs.backends.openai.spec import ApiSpec, insecure_url

    known = studies()
    for name in plan.configs:
        if name not in known:
            yield f"unknown study {name!r}; known: {', '.join(known)}"
    data: DataSources | None = None
    try:
        data = DataSources(plan.data_root)
    except FileNotFoundError as e:
        yield str(e)

    specs: dict[str, ApiSpec] = {}
    for name, values in plan.api_models.items():
        try:
            specs[name] = ApiSpec(name=name, **values)
        except ValidationError as e:
            yield format_validation(e, f"api_models.{name}")
        except TypeError as e:
            yield f"api_models.{name}: {e}"
    for name, spec in specs.items():
        if insecure_url(spec.base_url):
            warnings.warn(
                f"api_models.{name}.base_url {spec.shown_url} is plain http:// to another machine: prompts "
                "and any API key travel unencrypted; use https:// or a server on this machine",
                UserWarning,
                stacklevel=3,
            )

    named = [m for config in plan.configs.values() for m in model_fields(config).values()]
    for name, spec in specs.items():
        if name not in plan.models and name not in named:
            continue  # declared but unused: no need for its server
        try:
            with ApiModel(spec) as api:
                api.check()
        except (ConnectionError, ValueError, RuntimeError) as e:
            yield f"api_models.{name}: {e}"
    for model in plan.models:
        if model not in plan.api_models:
            try:
                check_model_name(model)
            except ValueError as e:
                yield f"--model {model}: {e}"

    yield from _option_problems(plan)

    for study, config in plan.configs.items():
        for field, value in model_fields(config).items():
            if value == SELF or value in plan.models or value in plan.api_models:
                continue
            try:
                check_model_name(value)
            except ValueError as e:
                yield (
                    f"studies.{study}.{field}: {value!r} is not a model of this run, not declared under "
                    f"api_models, and cannot be loaded ({e})"
                )
        yield from _data_problems(study, config, data)


def _option_problems(plan: RunPlan) -> Iterator[str]:
    for model, options in plan.model_options.items():
        where = f"model_options.{model}"
        for key in options:
            if key not in LOAD_OPTIONS:
                yield f"{where}.{key}: unknown key; use {', '.join(LOAD_OPTIONS)}"
        dtype = options.get("dtype")
        if dtype is not None and not isinstance(getattr(torch, str(dtype), None), torch.dtype):
            yield f"{where}.dtype: {dtype!r} is not a torch dtype; use e.g. float32 or bfloat16"
        device = options.get("device")
        if device is not None:
            try:
                torch.device(device)
            except (RuntimeError, TypeError):
                yield f"{where}.device: {device!r} is not a device; use e.g. cpu, cuda or cuda:1"
        trust = options.get("trust_remote_code")
        if trust is not None and not isinstance(trust, bool):
            yield f"{where}.trust_remote_code: {trust!r}; use true or false"


def _data_problems(study: str, config: StudyConfig, data: DataSources | None) -> Iterator[str]:
    where = f"studies.{study}"
    for field, value in data_fields(config).items():
        keyword_file = KEYWORDS.get(field, {}).get(value)
        if keyword_file is not None:
            if data is not None and data.find(keyword_file) is None:
                yield (
                    f"{where}.{field}: {value} reads {keyword_file} under the data folder "
                    f"({data.describe()}), which lacks it; set --data or VALUESCOPE_DATA, or give a path"
                )
            continue
        if not Path(value).exists():
            yield (
                f"{where}.{field}: {value} does not exist (a relative path is read from {Path.cwd()}); "
                "fix the path"
            )
    social_chem = (
        getattr(config, "lexicon", None) == "social-chem" and getattr(config, "social_chem", 0) is None
    )
    if social_chem and data is not None and data.find(SOCIAL_CHEM_FILE) is None:
        yield (
            f"{where}.lexicon: social-chem needs {SOCIAL_CHEM_FILE} under the data folder "
            f"({data.describe()}) or social_chem: PATH"
        )
