"""The HTML report: layout contract, escaping of hostile data, no network, and a real browser check."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from valuescope.report import write_report
from valuescope.report.plots import forest_plot

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
EVIL_MODEL = 'evil"><script>window.__pwned=3</script>'
MODELS = ["gemma-3-270m", EVIL_MODEL]
REPO = Path(__file__).resolve().parents[2]
LONG_ROWS = 250


def _metric(estimate: float | None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"estimate": estimate, "p": extra.pop("p", 0.0004), "n": extra.pop("n", 120)}
    if estimate is not None:
        entry.update(ci_low=estimate - 0.1, ci_high=estimate + 0.12)
    else:
        entry.update(ci_low=None, ci_high=None)
    entry.update(extra)
    return entry


def _tiny_figure(path: Path) -> None:
    fig = Figure(figsize=(4, 2.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1, 2, 3], [0.2, 0.5, 0.4, 0.8], marker="o")
    ax.set_xlabel("layer")
    ax.set_ylabel("agreement")
    fig.savefig(path.with_suffix(".svg"))
    fig.savefig(path.with_suffix(".png"), dpi=60)


def make_run(root: Path) -> Path:
    """A run directory in the layout ``valuescope run`` writes; hostile strings in every untrusted slot."""
    run = root / "run-2024-hostile"
    for sub in ("tables", "figures", "generations", "tensors"):
        (run / sub).mkdir(parents=True)
    summary = {
        "moral_foundations": {
            MODELS[0]: {
                "care_score": _metric(0.61, better="higher", layer=6),
                "fairness_gap": _metric(-0.05, better="lower", p=0.031, note=f"bootstrap {SCRIPT}"),
                "refusal_rate": _metric(None, note=f"not enough refusals {IMG}"),
            },
            MODELS[1]: {
                "care_score": _metric(0.42, better="higher", layer=9),
                "fairness_gap": _metric(0.12, better="lower", p=0.2),
                "refusal_rate": _metric(0.08, p=None, n=None),
            },
            "_all": {"rank_agreement": _metric(0.73, better="higher", note="Kendall tau across models")},
        },
        "steering": {
            MODELS[0]: {"shift": _metric(1.7, better="higher")},
            MODELS[1]: {"shift": _metric(0.9, better="higher")},
        },
        "orphan_study": {MODELS[0]: {"x": _metric(3.0)}},
    }
    table_rows = ["item,score,count,label"]
    for i in range(LONG_ROWS):
        label = SCRIPT if i == 3 else (IMG if i == 4 else f"item {i}")
        table_rows.append(
            f'{i},{((i * 37) % 101) / 7:.6f},{(i * 13) % 17},"{label.replace(chr(34), chr(34) * 2)}"'
        )
    (run / "tables" / "items.csv").write_text("\n".join(table_rows) + "\n")
    (run / "tables" / "small.csv").write_text("model,score\nA,0.5\nB,0.25\nC,0.75\nD,\n")
    _tiny_figure(run / "figures" / "curve")
    gens = [
        {"prompt": "Is it ever right to lie?", "response": f"Sometimes. {SCRIPT}", "label": "care"},
        {"prompt": "Tell me a secret", "response": f"{IMG}\n  indented line", "extra": 3},
        {"prompt": "third", "response": "ok"},
        {"prompt": "fourth (not shown)", "response": "hidden"},
    ]
    for i in range(len(MODELS)):
        (run / "generations" / f"gen{i}.jsonl").write_text(
            "\n".join(json.dumps(g) for g in gens) + "\nnot json\n", encoding="utf-8"
        )
    manifest = {
        "valuescope_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "created": "2024-05-01T12:00:00+00:00",
        "command": f"valuescope run --model {MODELS[0]} --model '{EVIL_MODEL}'",
        "models": {
            MODELS[0]: {
                "name": "Gemma 3 270M",
                "family": "gemma3",
                "weights_sha256": "a" * 64,
                "quantization": "Q4_K_M",
                "tokenizer": "gemma3",
                "layers": 18,
            },
            MODELS[1]: {
                "name": SCRIPT,
                "family": "llama",
                "weights_sha256": "b" * 64,
                "quantization": None,
                "tokenizer": IMG,
            },
        },
        "studies": {
            "moral_foundations": {
                "title": "Moral foundations",
                "description": f"How much each model weighs care and fairness. {SCRIPT} {IMG}",
                "reference": "Graham et al. (2011). Mapping the moral domain. https://example.org/paper",
                "profile": "demo",
                "config": {"items": 40, "template": SCRIPT},
                "metrics": {"care_score": "Mean care rating", "fairness_gap": f"Gap {IMG}"},
            },
            "steering": {
                "title": "Steering",
                "description": "Shift under a value vector.",
                "profile": "quick",
                "reference": "",
                "config": {},
                "metrics": {"shift": "Mean rating shift"},
            },
        },
        "data_files": {"data/items.csv": "c" * 64, SCRIPT: "d" * 64},
        "seeds": {"global": 0, "bootstrap": 1234},
        "libraries": {"torch": "2.4.0", "transformers": "5.0.0", "pandas": "2.2.0"},
        "platform": {"python": "3.11.7", "os": "Linux", "device": "cpu"},
        "timings": [
            {
                "study": "moral_foundations",
                "model": MODELS[0],
                "step": "ratings",
                "seconds": 12.5,
                "status": "computed",
            },
            {
                "study": "moral_foundations",
                "model": MODELS[0],
                "step": "bootstrap",
                "seconds": 3.0,
                "status": "reused",
            },
            {
                "study": "moral_foundations",
                "model": MODELS[1],
                "step": "ratings",
                "seconds": 140.0,
                "status": "computed",
            },
            {"study": "steering", "model": MODELS[1], "step": SCRIPT, "seconds": 1.0, "status": "computed"},
        ],
        "outputs": {
            "moral_foundations": {
                "tables": [
                    {
                        "file": "tables/items.csv",
                        "model": MODELS[0],
                        "name": "items",
                        "title": "Per-item scores",
                        "caption": f"One row per item {SCRIPT}",
                    },
                    {
                        "file": "tables/small.csv",
                        "model": "_all",
                        "name": "small",
                        "title": "Small table",
                        "caption": "Four rows",
                    },
                    {
                        "file": "../../etc/passwd",
                        "model": "_all",
                        "name": "escape",
                        "title": "Outside",
                        "caption": "",
                    },
                ],
                "figures": [
                    {
                        "file": "figures/curve.svg",
                        "png": "figures/curve.png",
                        "model": MODELS[1],
                        "name": "curve",
                        "title": f"Agreement by layer {IMG}",
                        "caption": "A tiny curve.",
                    },
                    {
                        "file": "figures/missing.svg",
                        "png": "figures/missing.png",
                        "model": "_all",
                        "name": "missing",
                        "title": "Missing figure",
                        "caption": "",
                    },
                ],
                "generations": [
                    {"file": f"generations/gen{i}.jsonl", "model": m, "name": "free text", "n": 4}
                    for i, m in enumerate(MODELS)
                ],
                "tensors": [
                    {"file": "tensors/vec.safetensors", "model": MODELS[0], "names": ["care", SCRIPT]}
                ],
            },
        },
    }
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(make_run(tmp_path_factory.mktemp("report")))


def test_report_written_atomically(report: Path) -> None:
    assert report.name == "report.html" and report.is_file()
    assert not [p for p in report.parent.iterdir() if p.name.endswith(".tmp")]


def test_no_urls_and_hostile_strings_escaped(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(page)
    for tag, attrs in parser.tags:
        for name, value in attrs:
            if name in ("src", "href"):
                assert "http://" not in (value or "") and "https://" not in (value or ""), (tag, value)
            assert not name.startswith("on"), f"event handler attribute on <{tag}>"
    assert [t for t, _ in parser.tags].count("script") == 1
    assert not [a for t, a in parser.tags if t == "img" and dict(a).get("src") == "x"]
    for raw in (SCRIPT, IMG, EVIL_MODEL, "<script>window.__pwned"):
        assert raw not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;" in page
    assert "evil&quot;&gt;&lt;script&gt;window.__pwned=3&lt;/script&gt;" in page
    assert "https://example.org/paper" in page  # the reference, as plain text only


def test_content(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    for anchor in (
        "findings",
        "overview",
        "study-moral-foundations",
        "study-steering",
        "study-orphan-study",
        "comparison",
        "about",
    ):
        assert f'id="{anchor}"' in page and f'href="#{anchor}"' in page
    plain = re.sub(r"<[^>]+>", "", page)
    assert "0.61 [0.51, 0.73]" in plain and "p&lt;0.001" in page and "p=0.031" in page and "layer 6" in page
    assert f"Showing the first 200 of {LONG_ROWS} rows" in page and "tables/items.csv" in page
    assert page.count("data:image/svg+xml;base64,") >= 3  # the study figure and two forest plots
    assert "Figure “Missing figure”" in page and "Table file ../../etc/passwd is missing" in page
    assert "fourth (not shown)" not in page
    assert "not described in manifest.json" in page
    assert "2.6 min" in page  # moral_foundations × the second model: 140 s
    assert "Q4_K_M" in page and "a" * 64 in page and "c" * 64 in page


def test_single_model_run_degrades_gracefully(tmp_path: Path) -> None:
    run = tmp_path / "bare"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"s": {"m": {"x": {"estimate": None, "note": "skipped"}}}}))
    (run / "manifest.json").write_text(json.dumps({"outputs": {"other": {}}}))
    page = write_report(run).read_text(encoding="utf-8")
    assert 'id="comparison"' not in page and 'id="about"' in page and 'id="study-other"' in page
    assert "skipped" in page and "No timings recorded" in page


def test_malformed_fields_do_not_crash(tmp_path: Path) -> None:
    run = tmp_path / "odd"
    run.mkdir()
    summary = {
        "": {
            "m1": {"a": {"estimate": "high", "ci_low": None, "p": "x", "n": True}},
            "m2": ["not", "a", "dict"],
        },
        "s2": "nonsense",
        "s3": {"m1": {"a": {"estimate": float("nan")}}, "m2": {"a": {"estimate": 1.0, "ci_low": 2.0}}},
    }
    manifest = {
        "models": ["m1"],
        "studies": {"s3": {"title": None, "metrics": "x", "config": {"k": [1, {"v": SCRIPT}]}}},
        "timings": [{"seconds": "slow"}, "junk", {"study": "s3", "model": None, "seconds": 2}],
        "outputs": {
            "s3": {
                "tables": ["junk", {"file": "/etc/passwd"}],
                "figures": [{"file": None}],
                "generations": [{"file": "nope.jsonl", "model": "m1"}],
                "tensors": [{"names": "x"}],
            }
        },
        "libraries": {"torch": {"version": "2"}},
    }
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "manifest.json").write_text(json.dumps(manifest))
    page = write_report(run).read_text(encoding="utf-8")
    assert 'id="study-x"' in page and 'id="comparison"' in page and SCRIPT not in page
    assert "Table file /etc/passwd is missing" in page


@pytest.mark.parametrize("missing", ["summary.json", "manifest.json"])
def test_missing_file_error(tmp_path: Path, missing: str) -> None:
    run = make_run(tmp_path)
    (run / missing).unlink()
    with pytest.raises(FileNotFoundError) as info:
        write_report(run)
    message = str(info.value)
    assert missing in message and "valuescope run" in message and "\n" not in message
    assert not (run / "report.html").exists()


def test_forest_plot_has_labelled_axes() -> None:
    study = {
        "a": {"m1": _metric(0.5, better="higher"), "m2": _metric(None)},
        "b $x$": {"m1": _metric(1.0), "m2": _metric(2.0)},
        "_all": {"m1": _metric(9.0)},
    }
    fig = forest_plot(study, ["a", "b $x$", "_all"], title="t")
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    for ax in axes:
        assert ax.get_xlabel() and ax.get_title(loc="left")
    assert axes[0].get_ylabel() == "model"
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["a", "b $x$"]
    fig.savefig(os.devnull, format="svg")  # "$" in a label must not be parsed as mathtext
    with pytest.raises(ValueError, match="nothing to plot"):
        forest_plot({"a": {"m": _metric(None)}}, ["a"])


# ---------------------------------------------------------------- a real browser


def _chromium() -> str:
    path = os.environ.get("VALUESCOPE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).is_file() and os.access(path, os.X_OK):
        return path
    how = "install it with `apt-get install chromium` or point VALUESCOPE_CHROMIUM at a Chromium binary"
    if os.environ.get("VALUESCOPE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"no Chromium at {path}; {how}")
    pytest.skip(f"no Chromium at {path}; {how} (set VALUESCOPE_REQUIRE_BROWSER=1 to fail instead)")


def _column(page: Any, table: Any, index: int) -> list[float]:
    texts = table.locator(f"tbody tr td:nth-child({index})").all_inner_texts()
    return [float(t) for t in texts]


@pytest.mark.browser
def test_in_browser(report: Path) -> None:
    executable = _chromium()
    if os.environ.get("VALUESCOPE_REQUIRE_BROWSER") == "1":
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    errors: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))

            def dialog(d: Any) -> None:
                dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", dialog)

            def route(r: Any) -> None:
                if r.request.url.startswith(("file:", "data:")):
                    r.continue_()
                else:
                    r.abort()

            page.route("**/*", route)
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_timeout(200)

            for anchor in ("overview", "study-moral-foundations", "study-steering", "comparison", "about"):
                assert page.locator(f"section#{anchor}").count() == 1, anchor
            # the first screen of a laptop (1280 x 900) opens on what was found, with no sideways scroll
            findings = page.locator("section#findings").bounding_box()
            assert findings is not None and findings["y"] < 600, findings
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert page.evaluate("typeof window.__pwned") == "undefined"
            visible = page.inner_text("body")
            assert SCRIPT in visible and IMG in visible and EVIL_MODEL in visible

            study = page.locator("section#study-moral-foundations")
            details = study.locator("details").first
            details.locator("summary").click()
            assert f"Sometimes. {SCRIPT}" in details.inner_text()
            assert page.evaluate("typeof window.__pwned") == "undefined"

            table = study.locator("table.sortable").first
            assert table.locator("tbody tr").count() == 200
            header = table.locator("thead th").nth(1)
            assert header.get_attribute("aria-sort") is None
            before = _column(page, table, 2)
            assert before != sorted(before)
            header.locator("button").click()
            assert header.get_attribute("aria-sort") == "ascending"
            ascending = _column(page, table, 2)
            assert ascending == sorted(before)
            header.locator("button").click()
            assert header.get_attribute("aria-sort") == "descending"
            assert _column(page, table, 2) == sorted(before, reverse=True)

            small = study.locator("table.sortable").nth(1)
            small.locator("thead th").nth(1).locator("button").click()
            assert small.locator("tbody tr td:nth-child(2)").all_inner_texts() == ["0.25", "0.5", "0.75", ""]

            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth > 0, i.src.slice(0, 5)])"
            )
            assert images and all(c and w and s == "data:" for c, w, s in images)

            artifacts = REPO / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not dialogs, dialogs
    assert not [u for u in requests if not u.startswith(("file:", "data:"))], requests


MAIN_JOB_ENV = "VALUESCOPE_MAIN_JOB_RUN"
"""A finished run folder of the main job (``.ci/run`` sets it); its report is opened in Chromium."""


@pytest.mark.browser
@pytest.mark.skipif(not os.environ.get(MAIN_JOB_ENV), reason=f"set {MAIN_JOB_ENV} to a finished run folder")
def test_main_job_report_in_browser() -> None:
    import playwright.sync_api as sync_api

    run = Path(os.environ[MAIN_JOB_ENV])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["failed_units"] == [], summary["failed_units"]
    errors: list[str] = []
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            local = ("file:", "data:")
            page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
            page.goto((run / "report.html").as_uri(), wait_until="load")
            assert page.locator("section#did-not-run").count() == 0
            studies = [s for s in summary if s != "failed_units"]
            assert page.locator("section.study").count() == len(studies) >= 5
            images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            assert images and all(images)
            artifacts = REPO / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "main-job-report.png"))
        finally:
            browser.close()
    assert not errors, errors
    assert not outside, outside


def test_metric_names_read_as_words_and_estimates_round_to_three_digits() -> None:
    from valuescope.report.formatting import fmt_estimate, metric_label

    assert metric_label("sidefx_r2") == "Side-effect R²"
    assert metric_label("crosslingual_probe_auroc_zh") == "Crosslingual probe AUROC Chinese"
    assert metric_label("n_responses") == "Number of responses"
    assert [fmt_estimate(x) for x in (0.61234, 0.5, 12.345, 1234.5, -0.0421, 0.00012, 3, 2.0)] == [
        "0.612", "0.5", "12.3", "1234", "-0.0421", "0.00012", "3", "2",
    ]  # fmt: skip
