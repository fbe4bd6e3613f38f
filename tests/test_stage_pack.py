"""The C parts of the import stage (_stage_pack.c) against their specification, the Python
path of import_staging.pack: the row binder and the page writer give the same image from the
same rows (the writer: the same tables, by SQLite's own reading and integrity check), every
value type stored as Python's sqlite3 binds it, and the same refusals."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aitrack.store import import_staging
from plugin_runs import pytest_with_plugin

RUN = (
    "sess-1",
    "run-1",
    1_759_408_674_434,
    None,
    "list the files",
    False,
    "01K6JEVNM2AAAAAAAAAAAAAAAA",
)
TOOL = ("sess-1", "run-1", "toolu_1", "Bash", 1_759_408_674_500, 1_759_408_674_900, 1,
        "01K6JEVNM2AAAAAAAAAAAAAAAA", "01K6JEVNM3BBBBBBBBBBBBBBBB")  # fmt: skip
API = ("anthropic:msg_1", "sess-1", "run-1", 1_759_408_674_434, "anthropic", "claude-sonnet-4-5",
       7, 166, 0, 26846, 0, 0, 0.1031835, "genai-prices", "req_1", None, 0, 27019,
       "01K6JEVNM2AAAAAAAAAAAAAAAA", "01K6JEVNM4CCCCCCCCCCCCCCCC")  # fmt: skip


def test_the_extension_is_built_and_finds_pythons_sqlite():
    from aitrack.store import _stage_pack

    assert import_staging._c is _stage_pack
    library = import_staging._c_library()
    assert library is not None and "libsqlite3" in Path(library).name


def python_image(runs: list[Any], tools: list[Any], apis: list[Any]) -> bytes:
    rows = import_staging.stage_rows(runs, tools, apis)
    return import_staging._pack_python(import_staging._inserts(rows))


def binder_image(runs: list[Any], tools: list[Any], apis: list[Any]) -> bytes:
    rows = import_staging.stage_rows(runs, tools, apis)
    library = import_staging._c_library()
    return import_staging._c.pack(
        library, [*import_staging._SETUP, "BEGIN"], import_staging._inserts(rows), ["COMMIT"]
    )


def written_image(tables: list[tuple[str, list[tuple[Any, ...]]]]) -> bytes | None:
    """The page writer's image of (name, rows) tables with one column per value."""
    return import_staging._c.build(
        [(f"CREATE TABLE {name} ({', '.join(f'c{i}' for i in range(len(rows[0]) if rows else 1))})",
          name, len(rows[0]) if rows else 1, rows) for name, rows in tables]
    )  # fmt: skip


def sqlite_image(tables: list[tuple[str, list[tuple[Any, ...]]]]) -> bytes:
    conn = sqlite3.connect(":memory:")
    for name, rows in tables:
        width = len(rows[0]) if rows else 1
        conn.execute(f"CREATE TABLE {name} ({', '.join(f'c{i}' for i in range(width))})")
    for name, rows in tables:
        width = len(rows[0]) if rows else 1
        conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * width)})", rows)
    conn.commit()
    image = conn.serialize()
    conn.close()
    return image


def read_back(image: bytes) -> tuple[list[tuple[Any, ...]], dict[str, list[tuple[Any, ...]]]]:
    """(sqlite_schema rows, every table's rows with rowids and each value's type), after
    SQLite's integrity check of the image."""
    conn = sqlite3.connect(":memory:")
    conn.deserialize(image)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    schema = conn.execute(
        "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema"
    ).fetchall()
    out = {}
    for _, name, *_ in schema:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
        select = ", ".join(f"{c}, typeof({c})" for c in cols)
        out[name] = conn.execute(f"SELECT rowid, {select} FROM {name} ORDER BY rowid").fetchall()
    conn.close()
    return schema, out


def tables(image: bytes) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(image)
    names = [*import_staging.STAGE_TABLES, "stage_usage"]
    # typeof() tells 1 from 1.0 and '' from NULL
    out = {}
    for n in names:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({n})")]
        select = ", ".join(f"{c}, typeof({c})" for c in cols)
        out[n] = conn.execute(f"SELECT {select} FROM {n} ORDER BY rowid").fetchall()
    conn.close()
    return out


def test_the_c_binder_writes_the_image_the_python_path_writes():
    runs = [RUN, (*RUN[:4], "héllo 😀 wörld", True, "01K6JEVNM1ZZZZZZZZZZZZZZZZ")]
    tools = [TOOL, (*TOOL[:6], None, None, "01K6JEVNM0ZZZZZZZZZZZZZZZZ")]
    apis = [API, (*API[:12], None, None, None, "fast", True, 0, None, "01K6JEVNM0YYYYYYYYYYYYYYYY")]
    image = import_staging.pack(runs, tools, apis)  # written by the page writer
    assert read_back(image) == read_back(python_image(runs, tools, apis))
    assert binder_image(runs, tools, apis) == python_image(runs, tools, apis)  # to the byte
    got = tables(image)
    assert [r[-2] for r in got["stage_runs"]] == ["01K6JEVNM1ZZZZZZZZZZZZZZZZ", RUN[-1]]  # id order
    assert got["stage_runs"][0][8:10] == ("héllo 😀 wörld", "text")
    assert got["stage_apis"][0][32:34] == (1, "integer")  # True binds as 1
    assert got["stage_usage"]  # the usage sums ran


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.binary(max_size=20),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*[values] * 8), max_size=12))
def test_any_values_bind_as_pythons_sqlite3_binds_them(rows):
    tools = [(*r, f"{i:026d}") for i, r in enumerate(rows)]
    try:
        want = python_image([], tools, [])
    except (sqlite3.Error, UnicodeEncodeError, OverflowError):  # lone surrogates, ...
        with pytest.raises((UnicodeEncodeError, OverflowError, RuntimeError)):
            import_staging.pack([], tools, [])
        with pytest.raises((UnicodeEncodeError, OverflowError, RuntimeError)):
            binder_image([], tools, [])
        return
    assert binder_image([], tools, []) == want
    assert read_back(import_staging.pack([], tools, [])) == read_back(want)


def test_a_nan_binds_as_null_as_in_python():
    tools = [(*TOOL[:6], math.nan, *TOOL[7:])]
    assert binder_image([], tools, []) == python_image([], tools, [])
    assert read_back(import_staging.pack([], tools, [])) == read_back(python_image([], tools, []))


cell_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 127, 128, -128, -129, 32767, 32768, 2**23, 2**31, 2**47, 2**48]),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.binary(max_size=40),
)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(st.tuples(*[cell_values] * 4), max_size=60), min_size=1, max_size=4))
def test_the_page_writer_stores_the_tables_sqlite_stores(tables):
    """Schema rows, root pages, rowids, every value and its type: as SQLite makes them from
    the same rows, and SQLite's integrity check passes."""
    named = [(f"t{i}", rows) for i, rows in enumerate(tables)]
    try:
        want = sqlite_image(named)
    except (UnicodeEncodeError, OverflowError):  # what Python's sqlite3 refuses, it refuses
        with pytest.raises((UnicodeEncodeError, OverflowError)):
            written_image(named)
        return
    got = written_image(named)
    assert got is not None
    assert read_back(got) == read_back(want)


def test_tables_of_many_pages_get_interior_pages_on_two_levels():
    rows = [(i, f"v{i % 97}", i * 0.5) for i in range(180_000)]  # about 800 leaves
    wide = [(i, "x" * 1500) for i in range(2_000)]  # two rows a page
    named = [("small", [(1, "a", None)]), ("many", rows), ("wide", wide), ("empty", [])]
    got = written_image(named)
    assert got is not None
    assert read_back(got) == read_back(sqlite_image(named))
    conn = sqlite3.connect(":memory:")
    conn.deserialize(got)
    assert conn.execute("SELECT c1 FROM many WHERE rowid = 123457").fetchone() == ("v72",)
    pages = conn.execute(
        "SELECT count(*) FROM dbstat WHERE name = 'many' AND pagetype = 'internal'"
    )
    assert pages.fetchone()[0] > 2  # a root above internal pages above the leaves
    conn.close()


def test_a_row_larger_than_a_page_is_left_to_sqlite():
    huge = [("a", "x" * 5000)]
    assert written_image([("t", huge)]) is None
    tools = [(*TOOL[:3], "y" * 9000, *TOOL[4:])]  # a tool name of 9 kB: the binder packs it
    image = import_staging.pack([], tools, [])
    assert read_back(image) == read_back(python_image([], tools, []))


@pytest.mark.parametrize(
    "row, error",
    [
        ((*TOOL[:4], 2**63, *TOOL[5:]), OverflowError),
        ((*TOOL[:4], object(), *TOOL[5:]), TypeError),
        (TOOL[:-1], ValueError),
        (list(TOOL), TypeError),
    ],
    ids=["int-beyond-64-bits", "unsupported-type", "short-row", "not-a-tuple"],
)
def test_a_row_it_cannot_bind_is_refused_with_the_reason(row, error):
    with pytest.raises(error):
        import_staging._c.pack(
            import_staging._c_library(),
            import_staging._SETUP,
            [("INSERT INTO stage_tools VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [TOOL, row])],
            [],
        )


def test_a_bad_statement_names_sqlites_error():
    with pytest.raises(RuntimeError, match="no such table"):
        import_staging._c.pack(
            import_staging._c_library(), ["INSERT INTO nowhere VALUES (1)"], [], []
        )


def test_packing_many_images_does_not_grow_memory():
    rows = [(*TOOL[:-1], f"{i:026d}") for i in range(2000)]
    import_staging.pack([], rows, [])

    def rss_kb() -> int:
        with open(f"/proc/{os.getpid()}/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))

    before = rss_kb()
    for _ in range(300):
        import_staging.pack([RUN], rows, [API])
    assert rss_kb() - before < 20_000


def test_the_python_paths_import_the_same_store(tmp_path):
    """Without the extensions (no compiler), the Python paths pack every import, make its
    ids (importing._ulids_python) and price its api rows (importing._api_rows_python)."""
    plugin = (
        "from aitrack.store import import_staging\nimport_staging._c = None\n"
        "import_staging._c_library.cache_clear()\n"
        "from aitrack.importing import transcripts\ntranscripts._ulids_c = None\n"
        "transcripts._api_rows_c = None\n"
    )
    run = pytest_with_plugin(tmp_path, "python_pack_plugin", plugin, ["test_import_bulk_load.py"])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


# -- the usage sums of a stage (sum_groups) ----------------------------------------------------
_OLD_SQL = (  # what the stage ran before the sums moved to C: the sums' specification in SQL
    f"SELECT ts / {import_staging.BUCKET_MS}, session_ext, model, provider, count(*), "
    + ", ".join(f"sum({t})" for t in import_staging.TOKENS)
    + ", sum(COALESCE(cost_usd, 0)), count(cost_usd) FROM stage_apis GROUP BY 1, 2, 3, 4"
)
tokens = st.one_of(st.none(), st.integers(min_value=0, max_value=2**40))
api_rows = st.lists(
    st.tuples(
        st.integers(min_value=-(10**13), max_value=10**13),  # ts, buckets either side of 0
        st.sampled_from(["s1", "s2", ""]),
        st.sampled_from(["claude-sonnet-4-5", "gpt-5", ""]),
        st.sampled_from(["anthropic", "openai", None]),
        st.tuples(*[tokens] * 6),
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e4)),
    ),
    max_size=40,
)


def stage_api(ts, session, model, provider, counts, cost, i):
    return ("k", session, None, ts, provider, model, *counts, cost, None, None, None, 0, 0,
            None, f"{i:026d}")  # fmt: skip


def close(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-9) if isinstance(x, float) else x == y
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=150, deadline=None)
@given(api_rows)
def test_the_usage_sums_are_what_sqlites_group_by_gave(rows):
    apis = [stage_api(*r, i) for i, r in enumerate(rows)]
    conn = sqlite3.connect(":memory:")
    columns = import_staging.STAGE_TABLES["stage_apis"]
    conn.execute(f"CREATE TABLE stage_apis ({', '.join(columns)})")
    conn.executemany(f"INSERT INTO stage_apis VALUES ({', '.join('?' for _ in columns)})", apis)
    want = sorted(conn.execute(_OLD_SQL).fetchall(), key=repr)
    usage = import_staging.usage_sums(apis)
    got = sorted(usage, key=repr)
    assert len(got) == len(want)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)
    # the same per session, model and provider, summed from those rows
    per_session = _OLD_SQL.replace(f"ts / {import_staging.BUCKET_MS}, ", "").replace(
        "GROUP BY 1, 2, 3, 4", "GROUP BY 1, 2, 3"
    )
    want = sorted(conn.execute(per_session).fetchall(), key=repr)
    got = sorted(import_staging.session_sums(usage), key=repr)
    assert len(got) == len(want)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)


sum_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(-1e9, 1e9))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-(10**7), 10**7), st.sampled_from("ab"), sum_values,
                          sum_values), max_size=30))  # fmt: skip
def test_the_c_sums_are_their_python_specification_to_the_bit(rows):
    for bucket_ms in (1000, 0):  # 0: the first key column as it is
        args = (rows, (0, 1), bucket_ms, (2, 3))
        assert import_staging._c.sum_groups(*args) == import_staging._sum_groups_python(*args)


@pytest.mark.parametrize(
    "rows, error",
    [
        ([(1.5, "a", 1)], TypeError),  # a bucketed value that is not an int
        ([(1, "a", "7")], TypeError),  # text to sum
        ([(1, "a", 2**62), (2, "a", 2**62)], OverflowError),
        ([(1, "a")], TypeError),  # a row too short for the columns
        ([[1, "a", 1]], TypeError),  # not a tuple
    ],
    ids=["float-bucket", "text", "overflow", "short-row", "not-a-tuple"],
)
def test_sums_it_cannot_take_are_refused_with_the_reason(rows, error):
    with pytest.raises(error):
        import_staging._c.sum_groups(rows, (0, 1), 10, (2,))
    if rows[0] != [1, "a", 1] and len(rows[0]) == 3:  # the specification refuses them too
        with pytest.raises(error):
            import_staging._sum_groups_python(rows, (0, 1), 10, (2,))
