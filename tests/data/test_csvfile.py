"""A data file that is not UTF-8 or whose quoting is broken fails with its name and line, in every loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from valuescope.data.csvfile import StimulusError, read_records
from valuescope.data.flames import load_flames
from valuescope.data.queries import load_queries
from valuescope.data.socialchem import load_social_chem


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "queries.csv"
    path.write_bytes("query_id,topic,query\nq1,work,Caf\u00e9?\n".encode("latin-1"))
    with pytest.raises(StimulusError, match=rf"{path}: line 2: not UTF-8 text \(byte 0xe9"):
        load_queries(path)


def test_an_unclosed_quote_is_named_instead_of_swallowing_the_file(tmp_path: Path) -> None:
    path = tmp_path / "queries.csv"
    path.write_text('query_id,topic,query\nq1,work,"Is it fair?\nq2,home,Why?\n', encoding="utf-8")
    with pytest.raises(StimulusError, match=rf"{path}: row 2: malformed CSV \(unexpected end of data\)"):
        read_records(path, "")


def test_a_byte_order_mark_is_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes("\ufeffa,b\n1,2\n".encode())
    assert read_records(path, "")[1:] == (["a", "b"], [(2, ["1", "2"])])


def test_jsonl_and_tsv_loaders_name_an_undecodable_line(tmp_path: Path) -> None:
    jsonl = tmp_path / "flames.jsonl"
    jsonl.write_bytes(b'{"prompt": "a", "dimension": "Fairness", "subcomponent": "x"}\n{"prompt": "\xff"}\n')
    with pytest.raises(StimulusError, match=rf"{jsonl}: line 2: not UTF-8"):
        load_flames(jsonl)
    tsv = tmp_path / "social-chem.tsv"
    header = b"action\taction-moral-judgment\taction-agree\trot-moral-foundations\trot-bad\n"
    tsv.write_bytes(header + b"helping\t1\t3\tcare-harm\t0\n" * 3 + b"bad \xc3\x28\t1\t3\tcare-harm\t0\n")
    with pytest.raises(StimulusError, match=rf"{tsv}: line 5: not UTF-8"):
        load_social_chem(tsv)
