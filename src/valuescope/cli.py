"""The ``valuescope`` command line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from valuescope.language_model import LanguageModel

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

app = typer.Typer(
    name="valuescope",
    help="Measure, compare and edit the values that language models hold.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

ModelOpt = Annotated[
    str,
    typer.Option("--model", "-m", help="Registry name (see `valuescope models`), HF id, directory or .gguf."),
]
InputOpt = Annotated[
    Path | None,
    typer.Option("--input", "-i", help="Texts: .txt (one per line), .csv or .jsonl (a `text` column)."),
]
ColumnOpt = Annotated[str | None, typer.Option(help="Column or field holding the text in .csv/.jsonl input.")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if available).")]

EXIT_UNITS_FAILED = 3
"""Exit status of a run that finished, report written, with failed or skipped units."""
EXIT_USAGE = 2
"""Exit status of a usage or config error (nothing ran)."""
_STATE = {"debug": False}


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    """Measure, compare and edit the values that language models hold."""
    _STATE["debug"] = debug


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(EXIT_USAGE)


def _parse_ints(value: str, argument: str) -> list[int]:
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        _fail(f"{argument} must be comma-separated integers such as 0,6,-1; got {value!r}")
        raise


def _texts(input_path: Path | None, prompts: list[str] | None, column: str | None) -> list[str]:
    from valuescope.data.texts import read_texts

    if input_path is not None and prompts:
        _fail("give either --input FILE or --prompt TEXT, not both")
    if input_path is not None:
        return read_texts(input_path, column=column)
    if not prompts:
        _fail("no texts: give --input FILE or one or more --prompt TEXT")
    return list(prompts or [])


def _load(model: str, device: str | None) -> LanguageModel:
    from valuescope.language_model import load_model

    typer.secho(f"loading {model} ...", err=True, dim=True)
    return load_model(model, device=device)


@app.command()
def models() -> None:
    """List the registered models and whether each is cached locally."""
    from valuescope.models.registry import DEFAULT_MODEL, REGISTRY, is_cached

    typer.echo(f"{'name':<24} {'cached':<7} {'instruct':<9} description")
    for name, entry in REGISTRY.items():
        mark = " (default)" if name == DEFAULT_MODEL else ""
        cached = "yes" if is_cached(entry) else "no"
        instruct = "yes" if entry.instruct else "no"
        typer.echo(f"{name:<24} {cached:<7} {instruct:<9} {entry.description}{mark}")
    typer.echo("\nAny Hugging Face causal LM id, local model directory or local .gguf file also works.")


@app.command()
def extract(
    model: ModelOpt,
    input: InputOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .safetensors file.")] = Path(
        "residuals.safetensors"
    ),
    layers: Annotated[
        str, typer.Option(help="Read points, comma-separated; 0 = embeddings, -1 = last block.")
    ] = "-1",
    pool: Annotated[str, typer.Option(help="last | mean")] = "last",
    column: ColumnOpt = None,
    store: Annotated[Path | None, typer.Option(help="Activation store directory: reuse and resume.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    device: DeviceOpt = None,
) -> None:
    """Residual stream of every text at chosen read points, saved as safetensors."""
    read_points = _parse_ints(layers, "--layers")
    if pool not in ("last", "mean"):
        _fail(f"--pool must be last or mean, got {pool!r}")
    texts = _texts(input, None, column)
    if not out.name.endswith(".safetensors"):
        _fail(f"--out {out} must end in .safetensors")
    from valuescope.readout.extract import extract as run_extract

    lm = _load(model, device)
    path = run_extract(lm, texts, read_points, pool, out, batch_size=batch_size, store=store)
    typer.echo(f"wrote {path} ({len(texts)} texts x {len(read_points)} read points x {lm.d_model})")


@app.command()
def rate(
    model: ModelOpt,
    options: Annotated[str, typer.Option(help="Answer options, comma-separated.")] = "1,2,3,4,5,6,7",
    prompt: Annotated[list[str] | None, typer.Option("--prompt", "-p", help="A prompt (repeatable).")] = None,
    input: InputOpt = None,
    column: ColumnOpt = None,
    chat: Annotated[
        bool | None, typer.Option(help="Force the chat template on or off (default: instruct models).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the table as CSV.")] = None,
    device: DeviceOpt = None,
) -> None:
    """Rate prompts on a Likert scale or multiple choice from next-token probabilities."""
    texts = _texts(input, prompt, column)
    opts = [o.strip() for o in options.split(",") if o.strip()]
    if len(opts) < 2:
        _fail("--options needs at least two comma-separated options")
    lm = _load(model, device)
    table = lm.rate(texts, opts, chat=chat)
    if out is not None:
        table.to_csv(out, index=False)
        typer.echo(f"wrote {out}")
    else:
        import pandas as pd

        with pd.option_context("display.max_colwidth", 60, "display.width", 160):
            typer.echo(table.round(3).to_string(index=False))


@app.command()
def generate(
    model: ModelOpt,
    prompt: Annotated[list[str] | None, typer.Option("--prompt", "-p", help="A prompt (repeatable).")] = None,
    input: InputOpt = None,
    column: ColumnOpt = None,
    max_new_tokens: Annotated[int, typer.Option(min=1)] = 64,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 = greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option(min=0.0, max=1.0)] = 1.0,
    seed: int = 0,
    chat: Annotated[
        bool | None, typer.Option(help="Force the chat template on or off (default: instruct models).")
    ] = None,
    device: DeviceOpt = None,
) -> None:
    """Generate continuations (greedy or sampled, reproducible per prompt and seed)."""
    texts = _texts(input, prompt, column)
    lm = _load(model, device)
    outputs = lm.generate(
        texts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed, chat=chat
    )
    for text, output in zip(texts, outputs, strict=True):
        typer.secho(f"> {text}", bold=True)
        typer.echo(output.strip() + "\n")


@app.command("studies")
def list_studies(
    study: Annotated[str | None, typer.Argument(metavar="NAME", help="Show only this study.")] = None,
    details: Annotated[
        bool,
        typer.Option("--details", help="Also document every config field: type, default, value per profile."),
    ] = False,
) -> None:
    """List the registered studies, one per line, name first; --details documents their config fields."""
    from valuescope.studies.config_docs import render_fields
    from valuescope.studies.registry import studies

    known = studies()
    if study is not None and study not in known:
        _fail(f"unknown study {study!r}; known studies: {', '.join(known)}")
    chosen = {study: known[study]} if study is not None else known
    width = min(100, max(60, shutil.get_terminal_size((100, 24)).columns))
    if details:
        typer.echo("Config fields, set under studies.<name> in a --config YAML, shown as")
        typer.echo("  name: type = default (value in profile quick, demo, full)\n      what it does")
    for name, cls in chosen.items():
        if details:
            typer.echo("")
        typer.echo(f"{name:<16} {cls.title}")
        if details:
            typer.echo("\n".join(render_fields(cls.Config, width)))


@app.command()
def run(
    study: Annotated[str, typer.Argument(help="A study name (see `valuescope studies`) or `all`.")],
    model: Annotated[
        list[str],
        typer.Option(
            "--model", "-m", help="Registry name, HF id, path, or an API model from the config. Repeat."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (created; reruns resume it).")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    profile: Annotated[str | None, typer.Option(help="quick | demo | full (default: demo).")] = None,
    data: Annotated[
        Path | None, typer.Option(help="External data folder (default: $VALUESCOPE_DATA).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute every unit, even finished ones.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one).")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="Worker processes running (model, study) tasks side by side (local executor), each "
            "with its share of the CPU threads; for machines with cores a small model leaves idle."
        ),
    ] = 1,
) -> None:
    """Run a study (or all) on one or more models into a run folder, then write its report."""
    import shlex
    import sys

    from valuescope.report import write_report
    from valuescope.runs.config import make_plan
    from valuescope.runs.execute import execute

    command = shlex.join(["valuescope", *sys.argv[1:]])
    plan = make_plan(study, model, out, config_file=config, profile=profile, data=data, command=command)
    execute(plan, force=force, quiet=quiet, executor=executor, address=address, jobs=jobs)
    page = write_report(out)
    typer.echo(f"wrote {out / 'summary.json'} and the report {page}")
    if _say_failed_units(out):
        raise typer.Exit(EXIT_UNITS_FAILED)


def _say_failed_units(run_dir: Path) -> bool:
    """Print the units of ``run_dir`` that did not run (to stderr); whether there were any."""
    import json

    failed = json.loads((run_dir / "summary.json").read_text("utf-8")).get("failed_units", [])
    if not failed:
        return False
    typer.secho(
        f"{len(failed)} unit(s) of {run_dir} did not run (the report lists them; a rerun retries them):",
        fg=typer.colors.YELLOW,
        err=True,
    )
    for entry in failed:
        typer.echo(f"  {entry['unit']}: {entry['status']}: {entry['reason']}", err=True)
    return True


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `valuescope run`.")],
) -> None:
    """Write RUN_DIR/report.html: one self-contained page with every study's results."""
    from valuescope.report import write_report

    typer.echo(f"wrote {write_report(run_dir)}")


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep YAML: models x studies x config overrides.")],
    force: Annotated[bool, typer.Option("--force", help="Recompute every unit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    executor: Annotated[str | None, typer.Option(help="local | ray (default: the sweep file's).")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
) -> None:
    """Run a sweep: every model x study x override, one run folder per override."""
    from valuescope.runs.sweep import load_sweep, run_sweep

    loaded = load_sweep(file)
    from valuescope.report import write_report

    incomplete = False
    for folder in run_sweep(loaded, force=force, quiet=quiet, executor=executor, address=address):
        typer.echo(f"wrote {write_report(folder)}")
        incomplete = _say_failed_units(folder) or incomplete
    if incomplete:
        raise typer.Exit(EXIT_UNITS_FAILED)


instruments_app = typer.Typer(
    help="Text-to-value instruments: their validity on human-labelled data, and training their heads.",
    no_args_is_help=True,
)
app.add_typer(instruments_app, name="instruments")
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Data folder with touche23/, valuebench/, valueportrait/ (default: $VALUESCOPE_DATA)."
    ),
]


def _data_folder(data: Path | None) -> Path:
    from valuescope.data.sources import DataSources

    root = DataSources(data).root
    if root is None:
        _fail("no data folder: pass --data DIR or set VALUESCOPE_DATA (it holds touche23/, valuebench/, ...)")
    return root


def _validate_on_labels(path: Path, instrument: str, n_boot: int, seed: int) -> Any:
    """``instrument`` (the shipped one) on the user's labelled texts at ``path``."""
    if not path.is_file():
        _fail(f"--labels {path}: no such file; give a CSV with text,value,label columns")
    if instrument == "value-labeller":
        from valuescope.instruments.value_labels import HeadLabeller, labeller_on_labels

        return labeller_on_labels(HeadLabeller(), path, n_boot=n_boot, seed=seed)
    if instrument == "projective-scorer":
        from valuescope.instruments.polarity import PolarityScorer, polarity_on_labels

        return polarity_on_labels(PolarityScorer(), path, n_boot=n_boot, seed=seed)
    _fail(f"--instrument {instrument!r}; with --labels choose value-labeller or projective-scorer")


@instruments_app.command("validate")
def instruments_validate(
    data: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list of validity records.")] = False,
    n_boot: Annotated[int, typer.Option(min=50, help="Bootstrap resamples per interval.")] = 1000,
    seed: int = 0,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Every dimension, not only macro and failing rows.")
    ] = False,
    judge: Annotated[
        str | None,
        typer.Option(
            help="The judge to validate: a model name or path, an api_models entry of --config, or 'none' "
            "(default: the indifference study's judge_model, smollm2-135m-instruct)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Run file whose api_models may name the judge.")] = None,
    judge_pairs: Annotated[
        int, typer.Option(min=2, help="Touché23 pairs per category the judge is asked about (both orders).")
    ] = 20,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="Your own human labels (CSV: text,value,label[,group][,context]) to validate --instrument "
            "on instead of the data folder's sets."
        ),
    ] = None,
    instrument: Annotated[
        str, typer.Option(help="With --labels: value-labeller (Schwartz values) or projective-scorer.")
    ] = "value-labeller",
) -> None:
    """Each instrument's validity on third-party human labels: AUROC (the judge: accuracy and
    consistency over both orders) with 95% CI, gate, pass/fail."""
    import json

    from valuescope.instruments.validation import validate_all
    from valuescope.runs.config import load_run_file
    from valuescope.runs.instrument_check import default_judge, open_judge

    if labels is not None:
        table = _validate_on_labels(labels, instrument, n_boot, seed)
    else:
        root = _data_folder(data)
        api_models = load_run_file(config).api_models if config else {}
        name = judge or default_judge()
        model = None if name == "none" else open_judge(name, api_models)
        table = validate_all(root, judge=model, judge_pairs=judge_pairs, n_boot=n_boot, seed=seed)
    if as_json:
        records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        typer.echo(json.dumps(records, indent=1))
        return
    shown = table if all_rows else table[(table["passed"] == False) | table["gate"].ne("")]  # noqa: E712
    for (instrument, dataset), part in shown.groupby(["instrument", "dataset"], sort=False):
        typer.secho(f"{instrument} on {dataset}", bold=True)
        for row in part.itertuples():
            verdict = "" if row.gate == "" else ("pass" if row.passed else "FAIL") + f" ({row.gate})"
            typer.echo(f"  {row.dimension:<28} {row.metric} {row.estimate:.3f} "
                       f"[{row.ci_low:.3f}, {row.ci_high:.3f}]  n={row.n}  {verdict}")  # fmt: skip


@instruments_app.command("train")
def instruments_train(
    data: DataOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the head files.")] = Path("heads"),
    encoder: Annotated[str, typer.Option(help="minilm | mpnet")] = "minilm",
) -> None:
    """Train the labeller's heads (Touché23 training split) and the polarity head (ValueBench), and
    write their validity table (validity.csv) beside them."""
    from valuescope.instruments.sentence_embeddings import encoder as check_encoder
    from valuescope.instruments.training import train_all

    check_encoder(encoder)
    for path in train_all(_data_folder(data), out, encoder_key=encoder):
        typer.echo(f"wrote {path}")


def main() -> None:
    """Entry point: bad input is a one-line error (exit 2), anything else a one-line error (exit 1);
    ``--debug`` shows the traceback instead."""
    try:
        app()
    except (ValueError, TypeError, FileNotFoundError, ConnectionError) as e:
        if _STATE["debug"]:
            raise
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise SystemExit(EXIT_USAGE) from None
    except Exception as e:
        if _STATE["debug"]:
            raise
        message = " ".join(str(e).split()) or "(no message)"
        typer.secho(
            f"error: {type(e).__name__}: {message} (valuescope --debug ... shows the traceback)",
            fg=typer.colors.RED,
            err=True,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
