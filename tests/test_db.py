import pandas as pd
import pytest
import sqlalchemy as sa
from psycopg2 import errors as pgerrors

from fdelib import db
from fdelib.errors import FdeError


@pytest.fixture()
def table(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS t_db")
        conn.exec_driver_sql(
            "CREATE TABLE t_db (id int PRIMARY KEY, px numeric(12,4), n int, ts timestamptz, label text)"
        )
    return "t_db"


def test_copy_then_read_gives_proper_dtypes(engine, table):
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "px": [1.5, None, 2.25],
            "n": [1, None, 3],
            "ts": pd.to_datetime(["2026-01-02 10:00", "2026-01-02 11:00", None], utc=True),
            "label": ["a", 'quote " and, comma', None],
        }
    )
    assert db.copy_dataframe(frame, table, engine) == 3
    out = db.read_frame("SELECT * FROM t_db ORDER BY id", engine=engine)
    assert str(out["px"].dtype) == "float64"  # not Decimal objects
    assert out["px"].isna().tolist() == [False, True, False]
    assert str(out["n"].dtype) == "Int64" and out["n"].isna().sum() == 1
    assert str(out["ts"].dtype).startswith("datetime64") and str(out["ts"].dt.tz) == "UTC"
    assert out.loc[1, "label"] == 'quote " and, comma'
    assert pd.isna(out.loc[2, "label"])


def test_read_frame_binds_parameters_and_core_statements(engine, table):
    db.copy_dataframe(pd.DataFrame({"id": [1, 2], "px": [10, 20]}), table, engine)
    out = db.read_frame("SELECT id FROM t_db WHERE px > :floor", {"floor": 15}, engine=engine)
    assert out["id"].tolist() == [2]
    t = sa.table("t_db", sa.column("id"), sa.column("px"))
    core = db.read_frame(sa.select(t.c.id, t.c.px).order_by(t.c.id), engine=engine)
    assert core["px"].tolist() == [10.0, 20.0]
    assert db.read_scalar("SELECT sum(px) FROM t_db", engine=engine) == 30


def test_failed_copy_leaves_nothing(engine, table):
    bad = pd.DataFrame({"id": [1, 2, 2], "px": [1, 2, 3]})  # duplicate primary key
    with pytest.raises(pgerrors.UniqueViolation):
        db.copy_dataframe(bad, table, engine)
    assert db.read_scalar("SELECT count(*) FROM t_db", engine=engine) == 0


def test_run_sql_file_is_all_or_nothing(engine, tmp_path):
    good = tmp_path / "good.sql"
    good.write_text("""
        CREATE TABLE IF NOT EXISTS t_sql (x int);
        CREATE OR REPLACE FUNCTION t_sql_double(v int) RETURNS int
            LANGUAGE sql AS $$ SELECT v * 2 $$;
        INSERT INTO t_sql VALUES (%(value)s);
    """)
    db.run_sql_file(good, engine, params={"value": 21})
    assert db.read_scalar("SELECT t_sql_double(x) FROM t_sql", engine=engine) == 42
    bad = tmp_path / "bad.sql"
    bad.write_text("INSERT INTO t_sql VALUES (1); INSERT INTO t_sql VALUES ('not a number');")
    with pytest.raises(pgerrors.InvalidTextRepresentation):
        db.run_sql_file(bad, engine)
    assert db.read_scalar("SELECT count(*) FROM t_sql", engine=engine) == 1
    with pytest.raises(FdeError, match="SQL file not found"):
        db.run_sql_file(tmp_path / "missing.sql", engine)


def test_large_copy_goes_in_chunks_in_one_transaction(engine, table, capsys):
    import numpy as np

    n = 25_000
    frame = pd.DataFrame({"id": np.arange(n), "px": np.arange(n) / 4})
    assert db.copy_dataframe(frame, table, engine, chunk_rows=10_000, progress=True) == n
    assert db.read_scalar("SELECT count(*) FROM t_db", engine=engine) == n
    assert "COPY t_db" in capsys.readouterr().err  # the progress bar was shown
    # a duplicate key in the last chunk undoes the earlier chunks too
    more = pd.DataFrame({"id": np.r_[np.arange(n, n + 20_000), [0]], "px": 1.0})
    with pytest.raises(pgerrors.UniqueViolation):
        db.copy_dataframe(more, table, engine, chunk_rows=10_000, progress=False)
    assert db.read_scalar("SELECT count(*) FROM t_db", engine=engine) == n


def test_copy_falls_back_to_pandas_for_mixed_objects(engine, table):
    # Arrow refuses a column mixing ints and strings; pandas writes both as text
    mixed = pd.DataFrame({"id": [1, 2, 3], "label": [7, "seven", None]})
    assert db.copy_dataframe(mixed, table, engine) == 3
    out = db.read_frame("SELECT label FROM t_db ORDER BY id", engine=engine)
    assert out["label"].tolist()[:2] == ["7", "seven"] and pd.isna(out["label"].iloc[2])


def test_empty_string_stays_empty_and_missing_is_null(engine, table):
    db.copy_dataframe(pd.DataFrame({"id": [1, 2], "label": ["", None]}), table, engine)
    assert db.read_scalar("SELECT count(*) FROM t_db WHERE label = ''", engine=engine) == 1
    assert db.read_scalar("SELECT count(*) FROM t_db WHERE label IS NULL", engine=engine) == 1


def test_raw_work_needs_a_psycopg2_connection_and_says_so(engine):
    with engine.connect() as conn:
        assert db.psycopg2_connection(conn).server_version >= 100000
    other = sa.create_engine("sqlite://")
    with other.connect() as conn, pytest.raises(FdeError, match=r"needs a psycopg2 connection .* got a sqlite3"):
        db.psycopg2_connection(conn)
    other.dispose()
