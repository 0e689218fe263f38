"""Talking to PostgreSQL: engines, `.sql` files, COPY loads and typed reads.

* :func:`get_engine` gives one SQLAlchemy engine per URL: the embedded server (started on
  first use) or ``DATABASE_URL``.
* :func:`run_sql_file` runs a file of SQL statements (DDL, functions with ``$$`` bodies)
  in one transaction: all of it or none of it.
* :func:`copy_dataframe` bulk-loads a DataFrame with ``COPY ... FROM STDIN`` (an order of
  magnitude faster than ``to_sql``; see ``benchmarks/``).
* :func:`read_frame` runs a query and returns a DataFrame whose columns have proper dtypes:
  ``numeric`` as float64 (not ``Decimal`` objects), integers with NULLs as ``Int64``.
  Money stays ``numeric`` in the database; converting to float is for looking at it.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg2.extensions
import sqlalchemy as sa
from psycopg2 import sql as pgsql

from . import stack
from .config import Settings, get_settings
from .errors import FdeError

# PostgreSQL type OIDs as psycopg2 reports them in cursor.description.
_NUMERIC = {1700}  # numeric / decimal
_INTEGER = {20, 21, 23}  # int8, int2, int4
_FLOAT = {700, 701}  # float4, float8


def database_url(settings: Settings | None = None) -> str:
    """The SQLAlchemy URL of the course database (starting the embedded server if needed)."""
    return stack.up(settings or get_settings())


_ENGINES: dict[str, sa.Engine] = {}
_SETTINGS_OF: dict[str, Settings] = {}  # engine URL -> the settings it was made from
_ADMIN_ENGINES: dict[str, sa.Engine] = {}
# settings -> (engine, postmaster pid or None): the fast path of get_engine
_READY: dict[tuple, tuple[sa.Engine, int | None]] = {}
_LOCK = threading.Lock()  # threads of one process start or attach one at a time


def get_engine(settings: Settings | None = None) -> sa.Engine:
    """The SQLAlchemy engine for the course database (one per URL, reused).

    The first call in a process starts or attaches to the server; later calls return the
    same engine at once while that server's postmaster lives (and start it again if not).
    """
    settings = settings or get_settings()
    key = (
        settings.home,
        settings.database_url,
        settings.postgres_user,
        settings.postgres_db,
        settings.database_admin_url,
    )
    ready = _READY.get(key)
    if ready and (ready[1] is None or stack.postmaster_alive(ready[1])):
        return ready[0]
    with _LOCK:
        url = database_url(settings)
        if url not in _ENGINES:
            # FDE_DB_POOL_SIZE: idle connections kept per process (worker processes keep 1:
            # dozens of them share one server's connection slots)
            _ENGINES[url] = sa.create_engine(
                url, pool_pre_ping=True, pool_size=int(os.environ.get("FDE_DB_POOL_SIZE") or 5)
            )
        _SETTINGS_OF[url] = settings
        _READY[key] = (_ENGINES[url], stack.postmaster_pid(settings) if settings.embedded else None)
        return _ENGINES[url]


def admin_url(engine: sa.Engine) -> str:
    """The privileged URL for ``engine``'s database: the embedded server's bootstrap
    superuser, or ``DATABASE_ADMIN_URL`` (on ``engine``'s database) for another server.

    For set-up the notebooks' own role may not do (creating roles, owning a project's
    objects). Raises :class:`FdeError` naming the setting when an external server has none.
    """
    url = engine.url
    settings = _SETTINGS_OF.get(url.render_as_string(hide_password=False)) or get_settings()
    if settings.embedded:
        if url.database is None:
            raise FdeError(f"the engine's URL {url!r} names no database: fdelib's engines always name one")
        return stack.admin_url(settings, database=url.database)
    if not settings.database_admin_url:
        raise FdeError(
            "this needs an administrator connection to the database: set DATABASE_ADMIN_URL "
            "(e.g. postgresql://postgres:PASSWORD@host:5432/db: a role with CREATEROLE and CREATE "
            f"on the database, not {url.username!r}, the role notebooks use)"
        )
    admin = sa.make_url(settings.database_admin_url).set(database=url.database)
    return admin.render_as_string(hide_password=False)


def get_admin_engine(engine: sa.Engine, *, role: str | None = None) -> sa.Engine:
    """An engine on ``engine``'s database through :func:`admin_url` (one per URL and role).

    With ``role``, every connection switches to it (``SET ROLE``) as soon as it is made, so
    its work is done with that role's rights only (e.g. a project's NOLOGIN owner role); its
    ``search_path`` is ``pg_catalog, pg_temp``: a privileged session never runs functions or
    operators that other roles created in ``public`` (write schema-qualified names).
    """
    url = admin_url(engine)
    key = f"{url}#{role or ''}"
    with _LOCK:
        if key not in _ADMIN_ENGINES:
            admin = sa.create_engine(url, pool_size=2, max_overflow=4, pool_pre_ping=True)

            @sa.event.listens_for(admin, "connect")
            def _narrow(dbapi_connection, _record) -> None:
                with dbapi_connection.cursor() as cur:
                    cur.execute("SET search_path = pg_catalog, pg_temp")
                    if role:
                        cur.execute(pgsql.SQL("SET ROLE {}").format(pgsql.Identifier(role)))
                dbapi_connection.commit()

            _ADMIN_ENGINES[key] = admin
        return _ADMIN_ENGINES[key]


def _forget_inherited_connections() -> None:
    """In a forked child: drop the parent's pooled connections without closing them (they are
    the parent's; SQLAlchemy's ``dispose(close=False)``), so the child opens its own. Two
    processes on one connection interleave their messages: psycopg2 then fails with "error
    with status PGRES_TUPLES_OK and no message from the libpq" (a worker process forked from a
    fork server that had connected did, at random)."""
    for engine in (*_ENGINES.values(), *_ADMIN_ENGINES.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def dispose_engines() -> None:
    """Close every pooled connection (before ``fde down`` or a reset)."""
    _READY.clear()
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()
    while _ADMIN_ENGINES:
        _ADMIN_ENGINES.popitem()[1].dispose()


def run_sql_file(
    path: str | Path,
    engine: sa.Engine | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    connection: sa.Connection | None = None,
) -> list[str]:
    """Run every statement of a ``.sql`` file in one transaction; return the server's
    warnings (``RAISE WARNING`` lines, without the ``WARNING:`` prefix).

    The file goes to the server as one script, so ``$$``-quoted function bodies and
    ``DO`` blocks work. ``params`` are bound by psycopg2 (``%(name)s`` placeholders);
    without params the text is sent as-is. With ``connection``, the file runs in that
    connection's open transaction (so several files can be one transaction).
    """
    path = Path(path)
    if not path.is_file():
        raise FdeError(f"SQL file not found: {path}")
    text = path.read_text()

    def _run(conn: sa.Connection) -> list[str]:
        raw = psycopg2_connection(conn)
        raw.notices.clear()  # psycopg2 keeps the last 50 of a connection's notices
        with raw.cursor() as cursor:
            cursor.execute(text, params) if params else cursor.execute(text)
        return [n.strip().removeprefix("WARNING:").strip() for n in raw.notices if n.startswith("WARNING:")]

    if connection is not None:
        return _run(connection)
    with (engine or get_engine()).begin() as conn:
        return _run(conn)


def psycopg2_connection(conn: sa.Connection) -> Any:
    """The psycopg2 connection under ``conn`` (for COPY, server notices, raw cursors).

    Raises :class:`FdeError` when ``conn`` is closed or uses another driver (fdelib's URLs are
    ``postgresql+psycopg2://``). Typed ``Any``: psycopg2 ships no type information.
    """
    raw = conn.connection.dbapi_connection
    if not isinstance(raw, psycopg2.extensions.connection):
        what = "a closed connection" if raw is None else f"a {type(raw).__module__} connection"
        raise FdeError(f"this needs a psycopg2 connection (a postgresql+psycopg2:// URL), got {what}")
    return raw


def copy_dataframe(
    df: pd.DataFrame,
    table: str,
    engine: sa.Engine | None = None,
    *,
    schema: str | None = None,
    columns: list[str] | None = None,
    connection: sa.Connection | None = None,
    progress: bool | None = None,
    chunk_rows: int = 100_000,
) -> int:
    """Append ``df`` to ``schema.table`` with COPY; return the number of rows loaded.

    Columns are matched by name (``columns`` or the DataFrame's). NaN/None become NULL.
    Runs in its own transaction unless an open ``connection`` is given, in which case the
    caller's transaction decides (so a failed load leaves nothing behind either way).
    Large frames go in chunks of ``chunk_rows`` inside that one transaction, with a
    progress bar (``progress=None`` shows it from 200 000 rows on).
    """
    columns = list(columns or df.columns)
    target = pgsql.Identifier(schema, table) if schema else pgsql.Identifier(table)
    names = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)
    show = len(df) >= 200_000 if progress is None else progress

    def _copy(conn: sa.Connection) -> None:
        raw = psycopg2_connection(conn)
        bar = _progress_bar(len(df), f"COPY {table}") if show else None
        render: Callable[[pd.DataFrame], tuple[io.BytesIO | io.StringIO, str]] = _render_arrow
        with raw.cursor() as cur:
            for start in range(0, len(df), chunk_rows):
                chunk = df.iloc[start : start + chunk_rows][columns]
                try:
                    buffer, null = render(chunk)
                except (ImportError, TypeError, ValueError, NotImplementedError):
                    render = _render_pandas  # types Arrow cannot write (e.g. dicts)
                    buffer, null = render(chunk)
                statement = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(
                    target, names, pgsql.Literal(null)
                )
                cur.copy_expert(statement.as_string(raw), buffer)
                if bar is not None:
                    bar.update(len(chunk))
        if bar is not None:
            bar.close()

    if connection is not None:
        _copy(connection)
    else:
        with (engine or get_engine()).begin() as conn:
            _copy(conn)
    return len(df)


def _render_arrow(chunk: pd.DataFrame) -> tuple[io.BytesIO, str]:
    """CSV via Arrow's C++ writer (about 4x faster than pandas): strings are quoted, so an
    empty string stays ``""`` and a missing value is an unquoted empty field (NULL)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    table = pa.Table.from_pandas(chunk, preserve_index=False)
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    buffer.seek(0)
    return buffer, ""


def _render_pandas(chunk: pd.DataFrame) -> tuple[io.StringIO, str]:
    buffer = io.StringIO()
    _csv_ready(chunk).to_csv(buffer, header=False, index=False, na_rep="\\N")
    buffer.seek(0)
    return buffer, "\\N"


def _progress_bar(total: int, desc: str):
    from tqdm.auto import tqdm  # a widget in notebooks, a text bar in a terminal

    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True)


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding only whole numbers are written as integers.

    pandas turns an integer column with a missing value into float64 (``1.0``), which an
    ``integer`` column would refuse; ``1`` is equally valid for numeric and float columns.
    """
    out = df
    for name in df.columns:
        column = df[name]
        if column.dtype.kind == "f":
            values = column.dropna()
            if len(values) and (values == values.round()).all() and values.abs().max() < 2**53:
                if out is df:
                    out = df.copy()
                out[name] = column.astype("Int64")
    return out


def read_frame(
    query: str | sa.Executable,
    params: Mapping[str, Any] | None = None,
    engine: sa.Engine | None = None,
    *,
    index_col: str | None = None,
    connection: sa.Connection | None = None,
) -> pd.DataFrame:
    """Run a query and return a DataFrame with proper dtypes.

    ``query`` is SQL text with ``:name`` parameters or a SQLAlchemy Core statement.
    ``numeric`` columns become float64, integer columns with NULLs ``Int64``, timestamps
    datetime64 (with their time zone for ``timestamptz``).
    """
    statement = sa.text(query) if isinstance(query, str) else query

    def _run(conn: sa.Connection) -> pd.DataFrame:
        result = conn.execute(statement, dict(params or {}))
        description = result.cursor.description if result.cursor is not None else None
        columns = list(result.keys())
        frame = pd.DataFrame.from_records(result.fetchall(), columns=columns)
        if description:
            frame = fix_dtypes(frame, [d[1] for d in description])  # DB-API: item 1 is type_code
        return frame

    if connection is not None:
        frame = _run(connection)
    else:
        with (engine or get_engine()).connect() as conn:
            frame = _run(conn)
    return frame.set_index(index_col) if index_col else frame


def fix_dtypes(frame: pd.DataFrame, type_codes: list[Any]) -> pd.DataFrame:
    """A frame read through a DB-API cursor with its columns typed as :func:`read_frame` types
    them (numeric as floats, ...); ``type_codes``: the cursor description's type codes."""
    # type codes are driver objects: psycopg2's are OIDs (int)
    for position, code in enumerate(type_codes):
        column = frame.iloc[:, position]
        if code in _NUMERIC or code in _FLOAT:
            frame.isetitem(
                position,
                pd.to_numeric(
                    column.astype("object").where(column.notna(), None).map(lambda v: None if v is None else float(v)),
                    errors="coerce",
                ).astype("float64"),
            )
        elif (code in _INTEGER and column.dtype == object) or (code in _INTEGER and column.dtype == "float64"):
            frame.isetitem(position, column.astype("Int64"))
        elif column.dtype == object and len(column) and _all_datetimes(column):
            frame.isetitem(position, pd.to_datetime(column))
    return frame


def _all_datetimes(column: pd.Series) -> bool:
    import datetime as dt

    values = column.dropna()
    return len(values) > 0 and all(isinstance(v, dt.datetime) for v in values)


def read_scalar(
    query: str | sa.Executable, params: Mapping[str, Any] | None = None, engine: sa.Engine | None = None
) -> Any:
    """The first column of the first row (or None)."""
    statement = sa.text(query) if isinstance(query, str) else query
    with (engine or get_engine()).connect() as conn:
        return conn.execute(statement, dict(params or {})).scalar()
