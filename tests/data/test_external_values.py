"""ValueBench PVQ-40 and ValuePortrait loaders: the real files load as documented; bad files fail clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from valuescope.data.csvfile import StimulusError
from valuescope.data.valuebench import VALUEBENCH_FILE, load_pvq40
from valuescope.data.valueportrait import (
    RESPONSE_COLUMNS,
    VALUEPORTRAIT_HUMANS,
    VALUEPORTRAIT_RESPONSES,
    human_value_correlations,
    load_human_pvq,
    load_valueportrait_responses,
)
from valuescope.data.values import SCHWARTZ_VALUES, circular_distance

VALUES = list(SCHWARTZ_VALUES)


def circumplex_fit(corr: pd.DataFrame) -> float:
    """Spearman between the 45 off-diagonal correlations and cos(2 pi k / 10), k the circular distance."""
    pairs = [(a, b) for i, a in enumerate(VALUES) for b in VALUES[i + 1 :]]
    observed = [corr.loc[a, b] for a, b in pairs]
    ideal = [np.cos(2 * np.pi * circular_distance(a, b) / 10) for a, b in pairs]
    return float(stats.spearmanr(observed, ideal).statistic)


# ------------------------------------------------------------------------------------------- ValueBench


def test_pvq40_has_forty_items_over_the_ten_values(shared_data: Path) -> None:
    pvq = load_pvq40(shared_data / VALUEBENCH_FILE)
    assert list(pvq.columns) == ["statement_id", "value", "reverse", "text", "questionnaire"]
    assert len(pvq) == 40 and (pvq["questionnaire"] == "PVQ40").all()
    assert pvq["statement_id"].tolist() == [f"pvq40-{n}" for n in range(1, 41)]  # the PVQ's own item order
    # Schwartz's PVQ-40 has 3 to 6 items per value
    assert pvq["value"].value_counts().to_dict() == {
        "universalism": 6, "security": 5, "self_direction": 4, "achievement": 4, "conformity": 4,
        "tradition": 4, "benevolence": 4, "power": 3, "stimulation": 3, "hedonism": 3,
    }  # fmt: skip
    # ValueBench keys every PVQ40 item +1 (portraits are all worded towards their value); the -1 keys
    # in the file belong to other inventories
    assert pvq["reverse"].dtype == bool and not pvq["reverse"].any()
    assert (pvq["text"] == pvq["text"].str.strip()).all()
    assert pvq["text"].iloc[0].startswith("Thinking up new ideas and being creative is important to me.")
    assert pvq.loc[0, "value"] == "self_direction" and pvq.loc[1, "value"] == "power"


def write(tmp_path: Path, text: str, name: str = "vb.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "questionnaire,item,value,agreement,question\n"


def test_pvq40_reads_reverse_keys_and_skips_other_inventories(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + 'MFT08,"Whether someone, somehow, was harmed",Care,1,?\n'
        "PVQ40, I like rules. ,Conformity,1,Should I?\nPVQ40,I dislike rules.,Conformity,-1,Should I?\n",
    )
    pvq = load_pvq40(path)
    assert pvq["text"].tolist() == ["I like rules.", "I dislike rules."]
    assert pvq["reverse"].tolist() == [False, True] and pvq["statement_id"].tolist() == ["pvq40-1", "pvq40-2"]


def test_bad_valuebench_files_name_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + 'PVQ40,"A two-line\nitem.",Power,1,?\nPVQ40,I care.,Caring,1,?\n')
    with pytest.raises(StimulusError, match=r"vb\.csv: row 4, column 'value': 'Caring' is not a Schwartz"):
        load_pvq40(path)
    with pytest.raises(StimulusError, match=r"row 2, column 'agreement': '2' is not 1 or -1"):
        load_pvq40(write(tmp_path, HEADER + "PVQ40,I care.,Power,2,?\n"))
    with pytest.raises(StimulusError, match=r"column 'questionnaire': no PVQ40 rows"):
        load_pvq40(write(tmp_path, HEADER + "MFT08,Harm,Care,1,?\n"))
    with pytest.raises(
        StimulusError, match=r"row 1 \(header\), column 'agreement': missing columns agreement"
    ):
        load_pvq40(write(tmp_path, "questionnaire,item,value\nPVQ40,I care.,Power\n"))


# ---------------------------------------------------------------------------------------- ValuePortrait


def test_valueportrait_responses_have_ten_correlations_each(shared_data: Path) -> None:
    df = load_valueportrait_responses(shared_data / VALUEPORTRAIT_RESPONSES)
    assert list(df.columns) == list(RESPONSE_COLUMNS)
    assert df["query_id"].nunique() == 104 and len(df) == 520  # five responses per query
    assert (df.groupby("query_id")["response_id"].apply(sorted).map(tuple) == (1, 2, 3, 4, 5)).all()
    scores = df[VALUES]
    assert (scores.dtypes == "float64").all() and not scores.isna().any().any()
    # the correlations span [-0.671, 0.631] over all 5,200 entries
    low, high = float(scores.min().min()), float(scores.max().max())
    assert -0.68 <= low < -0.6 and 0.6 < high <= 0.64
    # 52 queries (Reddit, Dear Abby) have a title; the other 52 are a bare prompt
    titled = df.drop_duplicates("query_id")["query"].str.contains("\n\n", regex=False)
    assert titled.sum() >= 52
    assert df["query"].iloc[0].startswith("AITA - I saw a video of this guy video taping himself")
    assert (df["response"].str.len() > 0).all()


def test_valueportrait_null_titles_leave_just_the_text(tmp_path: Path) -> None:
    corr = [[name, 0.1 * k] for k, name in enumerate(
        ["Self_Direction", "Stimulation", "Hedonism", "Achievement", "Power", "Security", "Conformity",
         "Tradition", "Benevolence", "Universalism"])]  # fmt: skip
    data = [
        {
            "content": {"title": None, "text": " Hi? "},
            "outputs": [{"id": 7, "content": "Yo.", "correlations": corr}],
        },
        {
            "content": {"title": "T", "text": "Body"},
            "outputs": [{"id": 1, "content": "Ok.", "correlations": corr}],
        },
    ]
    df = load_valueportrait_responses(dump(tmp_path, data))
    assert df["query"].tolist() == ["Hi?", "T\n\nBody"] and df["response_id"].tolist() == [7, 1]
    assert df.loc[0, VALUES].tolist() == pytest.approx([0.1 * k for k in range(10)])


def dump(tmp_path: Path, data: Any, name: str = "vp.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_bad_valueportrait_responses_name_the_query_and_output(tmp_path: Path) -> None:
    ten = [[v.title(), 0.0] for v in VALUES]
    good = {
        "content": {"title": None, "text": "Q"},
        "outputs": [{"id": 3, "content": "A", "correlations": ten}],
    }
    with pytest.raises(StimulusError, match=r"vp\.json: the top level is a dict, not a list"):
        load_valueportrait_responses(dump(tmp_path, {"queries": [good]}))
    with pytest.raises(StimulusError, match=r"query 1: missing key 'outputs'"):
        load_valueportrait_responses(dump(tmp_path, [good, {"content": {"text": "Q2"}}]))
    nine = {**good, "outputs": [{"id": 3, "content": "A", "correlations": ten[:-1]}]}
    with pytest.raises(StimulusError, match=r"query 1, output id 3, correlations: missing universalism"):
        load_valueportrait_responses(dump(tmp_path, [good, nine]))
    twice = {**good, "outputs": [{"id": 4, "content": "A", "correlations": [*ten, ["Power", 0.2]]}]}
    with pytest.raises(StimulusError, match=r"query 0, output id 4, correlations: power appears twice"):
        load_valueportrait_responses(dump(tmp_path, [twice]))
    higher = {
        **good,
        "outputs": [{"id": 5, "content": "A", "correlations": [*ten[:-1], ["Conservation", 0]]}],
    }
    with pytest.raises(
        StimulusError, match=r"query 0, output id 5, correlations: 'Conservation': higher-order"
    ):
        load_valueportrait_responses(dump(tmp_path, [higher]))
    text = {**good, "outputs": [{"id": 6, "content": "A", "correlations": [[v, "high"] for v, _ in ten]}]}
    with pytest.raises(
        StimulusError, match=r"output id 6, correlations, self_direction: 'high' is not a finite"
    ):
        load_valueportrait_responses(dump(tmp_path, [text]))
    with pytest.raises(StimulusError, match=r"line 1: not valid JSON"):
        load_valueportrait_responses(write(tmp_path, "[{", "broken.json"))


def test_human_pvq_has_569_participants_with_ten_scores(shared_data: Path) -> None:
    scores = load_human_pvq(shared_data / VALUEPORTRAIT_HUMANS)
    assert scores.shape == (569, 10) and list(scores.columns) == VALUES
    assert scores.index.name == "participant" and scores.index.is_unique and scores.index[0] == "P321"
    assert not scores.isna().any().any() and (scores.dtypes == "float64").all()


def test_human_higher_order_scores_are_item_weighted_means_without_hedonism(shared_data: Path) -> None:
    """ValuePortrait's ``higher_pvq`` averages PVQ-21 items (universalism has 3, the others 2) and leaves
    hedonism out of both openness and self-enhancement; our HIGHER_ORDER lists it under openness."""
    scores = load_human_pvq(shared_data / VALUEPORTRAIT_HUMANS)
    raw = json.loads((shared_data / VALUEPORTRAIT_HUMANS).read_text(encoding="utf-8"))
    higher = pd.DataFrame({p: r["higher_pvq"] for p, r in raw.items()}).T.loc[scores.index]
    s = scores
    np.testing.assert_allclose(
        higher["Openness_to_Change"], (s.self_direction + s.stimulation) / 2, atol=1e-9
    )
    np.testing.assert_allclose(higher["Self_Enhancement"], (s.achievement + s.power) / 2, atol=1e-9)
    conservation = (s.security + s.conformity + s.tradition) / 3
    np.testing.assert_allclose(higher["Conservation"], conservation, atol=1e-9)
    transcendence = (2 * s.benevolence + 3 * s.universalism) / 5
    np.testing.assert_allclose(higher["Self_Transcendence"], transcendence, atol=1e-9)


def test_the_human_value_correlations_fit_the_schwartz_circle(shared_data: Path) -> None:
    corr = human_value_correlations(load_human_pvq(shared_data / VALUEPORTRAIT_HUMANS))
    assert list(corr.index) == list(corr.columns) == VALUES
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr.to_numpy(), corr.to_numpy().T)
    assert float(corr.loc["power", "universalism"]) < -0.5  # opposite sides of the circle
    assert float(corr.loc["benevolence", "universalism"]) > 0.3  # neighbours
    # measured 0.797 (Pearson 0.783); Han et al. report 0.80 for these participants. With tradition placed
    # before conformity the fit drops to 0.700: the order of the shared wedge matters here.
    assert circumplex_fit(corr) == pytest.approx(0.80, abs=0.01)


def test_human_value_correlations_on_planted_scores() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 10))
    scores = pd.DataFrame(base, columns=VALUES[::-1])  # columns out of order
    scores["power"] = -scores["universalism"]
    scores["security"] = 2 * scores["conformity"] + 1
    corr = human_value_correlations(scores)
    assert list(corr.index) == VALUES
    assert corr.loc["power", "universalism"] == pytest.approx(-1)
    assert corr.loc["security", "conformity"] == pytest.approx(1)
    assert corr.loc["hedonism", "stimulation"] == pytest.approx(np.corrcoef(base[:, 7], base[:, 8])[0, 1])
    with pytest.raises(ValueError, match="lack the columns power"):
        human_value_correlations(scores.drop(columns=["power"]))


def test_circumplex_fit_is_one_for_the_ideal_circle_and_lower_for_a_sampled_one() -> None:
    ideal = pd.DataFrame(
        [[np.cos(2 * np.pi * circular_distance(a, b) / 10) for b in VALUES] for a in VALUES],
        index=VALUES,
        columns=VALUES,
    )
    assert circumplex_fit(ideal) == pytest.approx(1.0)
    # scores sampled from an angle have correlations cos(2 pi k / 10) plus noise, which breaks the ideal's
    # ties: the ceiling of this Spearman for real data is about 0.98, not 1
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, size=5000)
    circle = pd.DataFrame({v: np.cos(theta - 2 * np.pi * i / 10) for i, v in enumerate(VALUES)})
    assert 0.95 < circumplex_fit(human_value_correlations(circle)) < 1.0


def test_bad_human_files_name_the_participant_and_key(tmp_path: Path) -> None:
    pvq = {v.title(): 0.0 for v in VALUES}
    with pytest.raises(StimulusError, match=r"the top level is a list, not a dict"):
        load_human_pvq(dump(tmp_path, [{"pvq": pvq}]))
    with pytest.raises(StimulusError, match=r"participant 'P2': missing key 'pvq'"):
        load_human_pvq(dump(tmp_path, {"P1": {"pvq": pvq}, "P2": {"bfi": {}}}))
    with pytest.raises(StimulusError, match=r"participant 'P1', key 'pvq': a list, not a dict"):
        load_human_pvq(dump(tmp_path, {"P1": {"pvq": list(pvq)}}))
    odd = {**pvq, "Self_Enhancement": 0.1}
    with pytest.raises(StimulusError, match=r"participant 'P1', pvq: 'Self_Enhancement': higher-order"):
        load_human_pvq(dump(tmp_path, {"P1": {"pvq": odd}}))
    with pytest.raises(StimulusError, match=r"no participants"):
        load_human_pvq(dump(tmp_path, {}))
