"""Everyday user queries that invite an answer expressing some value: the package's
``mechanisms_queries.csv`` or a user file of the same schema (UTF-8 CSV, header row).

``mechanisms_queries.csv``, columns ``query_id,topic,query``:

- ``query_id``: unique (package: ``q001``). ``topic``: a free label (``work``, ``family``, ``pets``...).
- ``query``: a user's request to an assistant, open enough that an answer can express some value, and
  naming none; unique.

Problems raise :class:`~valuescope.data.csvfile.StimulusError` naming the file, the CSV line and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from valuescope.data.csvfile import check_unique, finish, read_frame

QUERY_COLUMNS = ("query_id", "topic", "query")


def load_queries(path: str | Path | None = None) -> pd.DataFrame:
    """The user queries (package file if ``path`` is None): ``query_id, topic, query``, validated."""
    source, df = read_frame(path, "mechanisms_queries.csv", QUERY_COLUMNS, id_column="query_id")
    check_unique(source, df, "query", "ask every query once")
    return finish(df)
