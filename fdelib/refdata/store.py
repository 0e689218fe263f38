"""Load reference data into the security master: validated, idempotent, with history.

* :func:`upsert_entities` / :func:`upsert_instruments` — staging table by COPY, then one
  SQL statement pair: close the current version of every changed record, insert the new
  versions. Loading the same data again changes nothing; a changed record keeps its past.
* :func:`load_mapping` — a GLEIF mapping file: each identifier checked with python-stdnum,
  invalid rows to ``refdata.rejects`` with the rule they broke, valid ones upserted into
  ``refdata.xref`` (COPY to staging, one INSERT … ON CONFLICT), with a progress bar.
* :func:`security_master` — everything known about an identifier, across sources.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from tqdm.auto import tqdm

from .. import db
from ..config import PERMID_LEVELS, get_settings
from ..errors import FdeError
from . import codes
from .identifiers import InvalidIdentifier, bic11, is_valid, validate

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
QUALITY_SQL = Path(__file__).with_name("quality.sql")
ENTITY_COLUMNS = ["lei", "legal_name", "country", "city", "status", "registered_on"]
FIGI_CHECKS = {"figi": "FIGI", "composite_figi": "FIGI", "share_class_figi": "FIGI"}
REFUSED_JOBS = "OpenFIGI /v3/mapping"  # refdata.rejects' source for jobs OpenFIGI refused
# mic and currency: the listing's venue (ISO 10383) and trading currency (ISO 4217), linked to the
# code lists by foreign keys (None when the source did not say)
INSTRUMENT_COLUMNS = [
    "figi",
    "composite_figi",
    "share_class_figi",
    "ticker",
    "exch_code",
    "security_type",
    "name",
    "mic",
    "currency",
]


def setup(engine: sa.Engine | None = None) -> None:
    """The schema (idempotent) and its code lists: countries, currencies, markets (:mod:`.codes`)."""
    engine = engine or db.get_engine()
    db.run_sql_file(SCHEMA_SQL, engine)
    codes.load(engine)


def reset(engine: sa.Engine | None = None) -> None:
    engine = engine or db.get_engine()
    setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE refdata.entities, refdata.instruments, refdata.xref, refdata.rejects, refdata.permid_candidates"
        )


def _copy(conn: sa.Connection, frame: pd.DataFrame, table: str) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    with db.psycopg2_connection(conn).cursor() as cur:
        cur.copy_expert(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)


def _versioned_upsert(
    conn, frame: pd.DataFrame, table: str, key: str, columns: list[str], source: str, as_of: str
) -> dict[str, int]:
    _refuse_duplicates(frame, key, table)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS stage_{table}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE stage_{table} ON COMMIT DROP AS "
        f"SELECT {', '.join(columns)} FROM refdata.{table} WITH NO DATA"
    )
    _copy(conn, frame[columns], f"stage_{table}")
    _refuse_backdated(conn, table, key, as_of)
    differs = " OR ".join(f"c.{c} IS DISTINCT FROM s.{c}" for c in columns if c != key)
    closed = conn.execute(
        sa.text(f"""
        UPDATE refdata.{table} c SET valid_to = :as_of
        FROM stage_{table} s
        WHERE c.{key} = s.{key} AND c.valid_to IS NULL AND c.valid_from < :as_of AND ({differs})"""),
        {"as_of": as_of},
    ).rowcount
    # same-day reloads with changes overwrite today's version (history is per day)
    replaced = conn.execute(
        sa.text(f"""
        DELETE FROM refdata.{table} c USING stage_{table} s
        WHERE c.{key} = s.{key} AND c.valid_to IS NULL AND c.valid_from = :as_of AND ({differs})"""),
        {"as_of": as_of},
    ).rowcount
    inserted = conn.execute(
        sa.text(f"""
        INSERT INTO refdata.{table} ({", ".join(columns)}, source, valid_from)
        SELECT {", ".join("s." + c for c in columns)}, :source, :as_of FROM stage_{table} s
        WHERE NOT EXISTS (SELECT 1 FROM refdata.{table} c WHERE c.{key} = s.{key} AND c.valid_to IS NULL)"""),
        {"source": source, "as_of": as_of},
    ).rowcount
    return {
        "new records": inserted - closed - replaced,
        "changed": closed + replaced,
        "unchanged": len(frame) - inserted,
    }


def _refuse_duplicates(frame: pd.DataFrame, key: str, table: str) -> None:
    repeated = frame.loc[frame[key].duplicated(keep=False), key]
    if len(repeated):
        examples = ", ".join(sorted(repeated.unique())[:3])
        raise FdeError(
            f"{repeated.nunique()} {key.upper()}s appear more than once in this {table} load "
            f"(e.g. {examples}): send one record per {key.upper()}; nothing was loaded"
        )


def _refuse_backdated(conn: sa.Connection, table: str, key: str, as_of: str) -> None:
    """History is kept in date order: a load dated before a record's current version would
    rewrite the past silently, so it is refused (and the transaction rolled back)."""
    later, newest = conn.execute(
        sa.text(f"""
        SELECT count(*), max(c.valid_from) FROM refdata.{table} c JOIN stage_{table} s USING ({key})
        WHERE c.valid_to IS NULL AND c.valid_from > :as_of"""),
        {"as_of": as_of},
    ).one()
    if later:
        raise FdeError(
            f"{later} {table} already have a version dated {newest}, after this load's as_of "
            f"{as_of}: load downloads in date order; nothing was loaded"
        )


def _valid(
    frame: pd.DataFrame,
    checks: dict[str, str],
    source: str,
    as_of: str,
    conn: sa.Connection,
    progress: bool = False,
    optional: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Rows whose identifiers all pass, normalised; the others go to refdata.rejects with the
    rule they break. Each distinct value is checked once (python-stdnum)."""
    frame = frame.copy()
    rejected = pd.Series(False, index=frame.index)
    rejects = []
    for column, kind in checks.items():
        values = frame[column]
        blank = values.isna() | (values.astype("string").str.strip() == "")
        verdicts = _check_values(kind, values[~blank].unique(), source, progress)
        normalised = values[~blank].map(lambda v, verdicts=verdicts: verdicts[v][0])
        for value in values[~blank][normalised.isna() & ~rejected[~blank]]:
            rejects.append(
                {"source": source, "kind": kind, "value": str(value), "rule": verdicts[value][1], "as_of": as_of}
            )
        if column not in optional:
            if (blank & ~rejected).any():
                rejects.append({"source": source, "kind": kind, "value": "", "rule": "missing", "as_of": as_of})
            rejected |= blank
        rejected.loc[normalised.index[normalised.isna()]] = True
        frame.loc[~blank, column] = normalised
    if rejects:
        _reject(conn, rejects)
    return frame[~rejected]


def _reject(conn: sa.Connection, rejects: list[dict]) -> None:
    """Record rejected values (one row per source, kind, value and rule; the latest as_of)."""
    conn.execute(
        sa.text("""
        INSERT INTO refdata.rejects (source, kind, value, rule, as_of)
        VALUES (:source, :kind, :value, :rule, :as_of)
        ON CONFLICT (source, kind, value, rule) DO UPDATE SET as_of = greatest(rejects.as_of, EXCLUDED.as_of)"""),
        list({(r["source"], r["kind"], r["value"], r["rule"]): r for r in rejects}.values()),
    )


def _check_values(kind: str, values, source: str, progress: bool) -> dict[str, tuple[str | None, str]]:
    """``value -> (normalised or None, rule broken)`` for each distinct value."""
    verdicts: dict[str, tuple[str | None, str]] = {}
    for value in tqdm(
        values, desc=f"validating {source} {kind}s", unit="id", disable=not progress or len(values) < 20_000
    ):
        try:
            verdicts[value] = (validate(kind, value), "")
        except InvalidIdentifier as exc:
            verdicts[value] = (None, exc.rule)
    return verdicts


def upsert_entities(
    frame: pd.DataFrame, *, as_of: str, source: str = "GLEIF", engine: sa.Engine | None = None
) -> dict[str, int]:
    engine = engine or db.get_engine()
    with engine.begin() as conn:
        good = _valid(frame[ENTITY_COLUMNS], {"lei": "LEI"}, source, as_of, conn)
        return _versioned_upsert(conn, good, "entities", "lei", ENTITY_COLUMNS, source, as_of)


def upsert_instruments(
    frame: pd.DataFrame, *, as_of: str, source: str = "OpenFIGI", engine: sa.Engine | None = None
) -> dict[str, int]:
    """Instruments (OpenFIGI's fields; ``mic`` and ``currency`` optional): FIGIs validated, an
    unknown MIC or currency refused whole, naming the code (the foreign keys to the code lists)."""
    engine = engine or db.get_engine()
    try:
        with engine.begin() as conn:
            good = _valid(
                frame.reindex(columns=INSTRUMENT_COLUMNS),
                FIGI_CHECKS,
                source,
                as_of,
                conn,
                optional=("composite_figi", "share_class_figi"),
            )
            return _versioned_upsert(conn, good, "instruments", "figi", INSTRUMENT_COLUMNS, source, as_of)
    except sa.exc.IntegrityError as error:
        raise codes.refusal(error) from None


def load_mapping(
    frame: pd.DataFrame,
    kind: str,
    *,
    as_of: str,
    source: str = "GLEIF",
    engine: sa.Engine | None = None,
    progress: bool = True,
    snapshot: bool = False,
) -> dict[str, int]:
    """A mapping (``from_id`` → ``to_id`` columns named as the file names them) into xref.

    ``snapshot=True`` says ``frame`` is the source's whole file (GLEIF's mapping files are):
    a link of this kind and source that it no longer holds is **retired** (``retired_on``),
    not deleted — a BIC re-pointed to another LEI keeps its old link, retired, beside the new
    one. A link seen again is current again. Snapshots load in date order. BICs are stored in
    their 11-character form, as GLEIF lists them (``PUMADE77`` → ``PUMADE77XXX``)."""
    engine = engine or db.get_engine()
    with engine.begin() as conn:
        return _load_mapping(conn, frame, kind, as_of=as_of, source=source, progress=progress, snapshot=snapshot)


def _load_mapping(
    conn: sa.Connection,
    frame: pd.DataFrame,
    kind: str,
    *,
    as_of: str,
    source: str,
    progress: bool = False,
    snapshot: bool = False,
) -> dict[str, int]:
    left, right = kind.split("-")
    checks = {left: left, right: right}
    if snapshot:
        _refuse_older_snapshot(conn, kind, source, as_of)
    good = _valid(frame[[left, right]], checks, source, as_of, conn, progress)
    for column in (left, right):
        if column == "BIC":
            good[column] = good[column].map(bic11)
    pairs = good[[left, right]].drop_duplicates()
    conn.exec_driver_sql("DROP TABLE IF EXISTS stage_xref")
    conn.exec_driver_sql("CREATE TEMP TABLE stage_xref (from_id text, to_id text) ON COMMIT DROP")
    _copy(conn, pairs.set_axis(["from_id", "to_id"], axis=1), "stage_xref")
    params = {"kind": kind, "source": source, "as_of": as_of}
    new, seen = conn.execute(
        sa.text("""
        WITH upserted AS (
            INSERT INTO refdata.xref (kind, from_id, to_id, source, first_seen, as_of)
            SELECT :kind, from_id, to_id, :source, :as_of, :as_of FROM stage_xref
            ON CONFLICT (kind, from_id, to_id, source)
            DO UPDATE SET as_of = greatest(xref.as_of, EXCLUDED.as_of), retired_on = NULL
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"""),
        params,
    ).one()
    retired = (
        conn.execute(
            sa.text("""
        UPDATE refdata.xref SET retired_on = :as_of
        WHERE kind = :kind AND source = :source AND retired_on IS NULL AND as_of < :as_of"""),
            params,
        ).rowcount
        if snapshot
        else 0
    )
    return {
        "rows": len(frame),
        "valid": len(good),
        "rejected": len(frame) - len(good),
        "new": new,
        "seen again": seen,
        "retired": retired,
    }


def _refuse_older_snapshot(conn: sa.Connection, kind: str, source: str, as_of: str) -> None:
    newest = conn.execute(
        sa.text("SELECT max(as_of) FROM refdata.xref WHERE kind = :k AND source = :s"), {"k": kind, "s": source}
    ).scalar()
    if newest is not None and str(newest) > str(as_of):
        raise FdeError(
            f"{source}'s {kind} file was already loaded as of {newest}, after this one ({as_of}): "
            "load whole files in date order; nothing was loaded"
        )


def retired_links(kind: str | None = None, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Links a source's latest whole file no longer holds, with when they were first and last seen."""
    return db.read_frame(
        """
        SELECT kind, from_id, to_id, source, first_seen, as_of AS last_seen, retired_on FROM refdata.xref
        WHERE retired_on IS NOT NULL AND (CAST(:k AS text) IS NULL OR kind = :k)
        ORDER BY kind, from_id, to_id""",
        {"k": kind},
        engine=engine,
    )


def load_figi_results(
    jobs: list[dict], results: list[dict], *, as_of: str, engine: sa.Engine | None = None
) -> dict[str, int]:
    """OpenFIGI mapping results: instruments, and ISIN→FIGI cross-references. A job OpenFIGI
    refused keeps its error text (``"Invalid idValue format."``): stored in ``refdata.rejects``
    (source ``OpenFIGI /v3/mapping``, kind its ``idType``, value its ``idValue``, rule the text)."""
    instruments, links, unmatched, refused = [], [], 0, []
    for job, result in zip(jobs, results, strict=False):
        unmatched += "warning" in result
        if "error" in result:
            refused.append(
                {
                    "source": REFUSED_JOBS,
                    "kind": str(job.get("idType")),
                    "value": str(job.get("idValue")),
                    "rule": str(result["error"]),
                    "as_of": as_of,
                }
            )
        for record in result.get("data", []):
            instruments.append(
                {
                    "figi": record["figi"],
                    "composite_figi": record.get("compositeFIGI"),
                    "share_class_figi": record.get("shareClassFIGI"),
                    "ticker": record.get("ticker"),
                    "exch_code": record.get("exchCode"),
                    "security_type": record.get("securityType"),
                    "name": record.get("name"),
                    # OpenFIGI answers with Bloomberg's exchange code, not a MIC: a job that
                    # asked for a venue (micCode) and a currency got that listing
                    "mic": job.get("micCode"),
                    "currency": job.get("currency"),
                }
            )
            if job["idType"] == "ID_ISIN":
                links.append({"ISIN": job["idValue"], "FIGI": record["figi"]})
    engine = engine or db.get_engine()
    if refused:
        with engine.begin() as conn:
            _reject(conn, refused)
    counts = upsert_instruments(
        pd.DataFrame(instruments, columns=INSTRUMENT_COLUMNS).drop_duplicates("figi"), as_of=as_of, engine=engine
    )
    mapped = load_mapping(
        pd.DataFrame(links, columns=["ISIN", "FIGI"]),
        "ISIN-FIGI",
        as_of=as_of,
        source="OpenFIGI",
        engine=engine,
        progress=False,
    )
    return {
        "jobs": len(jobs),
        "jobs without a match (warning)": unmatched,
        "jobs refused (error)": len(refused),
        **counts,
        "isin-figi links": mapped["valid"],
    }


def refused_jobs(engine: sa.Engine | None = None) -> pd.DataFrame:
    """OpenFIGI jobs refused with an error, with its text (from ``refdata.rejects``)."""
    return db.read_frame(
        "SELECT kind AS id_type, value AS id_value, rule AS error, as_of FROM refdata.rejects "
        "WHERE source = :s ORDER BY kind, value",
        {"s": REFUSED_JOBS},
        engine=engine,
    )


def accepted(matches: pd.DataFrame, min_level: str | None = None, min_score: float | None = None) -> pd.Series:
    """Which PermID matches are strong enough to become identity links: level at or above
    ``min_level`` (``PERMID_MIN_LEVEL``, Good) *and* score at or above ``min_score``
    (``PERMID_MIN_SCORE``, 80). An unknown level or a missing score is not strong enough."""
    settings = get_settings()
    level = (min_level or settings.permid_min_level).capitalize()
    if level not in PERMID_LEVELS:
        raise FdeError(f"min_level {min_level!r} is not one of {', '.join(PERMID_LEVELS)}")
    floor = settings.permid_min_score if min_score is None else float(min_score)
    rank = matches["level"].map({name: i for i, name in enumerate(PERMID_LEVELS)})
    score = pd.to_numeric(matches["score"], errors="coerce")
    return (rank >= PERMID_LEVELS.index(level)).fillna(False) & (score >= floor).fillna(False)


def load_permid_matches(
    matches: pd.DataFrame,
    *,
    as_of: str,
    engine: sa.Engine | None = None,
    min_level: str | None = None,
    min_score: float | None = None,
) -> dict[str, int]:
    """PermID record-matching results (``local_id`` = the LEI sent): the strong matches
    (:func:`accepted`) become PERMID-LEI links; the weaker ones are kept in
    ``refdata.permid_candidates`` for a person to review, never used to resolve an identifier.
    A pair that was linked before and is now only a candidate has its link retired. One transaction."""
    engine = engine or db.get_engine()
    strong = accepted(matches, min_level, min_score)
    weak = matches[~strong]
    settings = get_settings()
    floor = (
        f"{(min_level or settings.permid_min_level).capitalize()}, "
        f"{settings.permid_min_score if min_score is None else float(min_score):g}%"
    )
    with engine.begin() as conn:
        frame = pd.DataFrame({"PERMID": matches.loc[strong, "permid"], "LEI": matches.loc[strong, "local_id"]})
        linked = _load_mapping(conn, frame, "PERMID-LEI", as_of=as_of, source="PermID")
        candidates = pd.DataFrame(
            {
                "lei": weak["local_id"].astype(str),
                "permid": weak["permid"].astype(str),
                "matched_name": weak["matched_name"],
                "score": pd.to_numeric(weak["score"], errors="coerce"),
                "level": weak["level"].fillna("?"),
                "below": f"below {floor}",
                "as_of": as_of,
            }
        )
        if len(candidates):
            conn.execute(
                sa.text("""
                INSERT INTO refdata.permid_candidates (lei, permid, matched_name, score, level, below, as_of)
                VALUES (:lei, :permid, :matched_name, :score, :level, :below, :as_of)
                ON CONFLICT (lei, permid) DO UPDATE SET matched_name = EXCLUDED.matched_name, score = EXCLUDED.score,
                    level = EXCLUDED.level, below = EXCLUDED.below,
                    as_of = greatest(permid_candidates.as_of, EXCLUDED.as_of)"""),
                [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in candidates.to_dict("records")],
            )
        retired = conn.execute(
            sa.text("""
            UPDATE refdata.xref x SET retired_on = :as_of FROM refdata.permid_candidates c
            WHERE x.kind = 'PERMID-LEI' AND x.source = 'PermID' AND x.retired_on IS NULL
              AND x.from_id = c.permid AND x.to_id = c.lei AND c.as_of = :as_of"""),
            {"as_of": as_of},
        ).rowcount
        strong_pairs = matches.loc[strong, ["local_id", "permid"]].astype(str)
        if len(strong_pairs):
            conn.execute(
                sa.text("DELETE FROM refdata.permid_candidates WHERE lei = :lei AND permid = :permid"),
                [{"lei": lei, "permid": p} for lei, p in strong_pairs.itertuples(index=False)],
            )
    return {
        "matches": len(matches),
        "linked": linked["valid"],
        "kept as candidates": len(weak),
        "rejected": linked["rejected"],
        "new": linked["new"],
        "seen again": linked["seen again"],
        "retired": linked["retired"] + retired,
    }


def permid_candidates(engine: sa.Engine | None = None) -> pd.DataFrame:
    """PermID matches too weak to link (below the configured level or score), for review."""
    return db.read_frame(
        "SELECT lei, permid, matched_name, score, level, below, as_of FROM refdata.permid_candidates "
        "ORDER BY score DESC NULLS LAST, lei, permid",
        engine=engine,
    )


def history(key: str, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Every version of an entity (by LEI) or instrument (by FIGI)."""
    table, column = ("instruments", "figi") if is_valid("FIGI", key) else ("entities", "lei")
    return db.read_frame(
        f"SELECT * FROM refdata.{table} WHERE {column} = :k ORDER BY valid_from", {"k": key}, engine=engine
    )


def security_master(identifier: str, engine: sa.Engine | None = None) -> dict[str, pd.DataFrame]:
    """Everything known about an identifier (LEI, ISIN, FIGI or BIC): the issuer, its
    identifiers from every source, and its instruments — one question, one answer."""
    ident = "".join(identifier.split()).upper()
    ids = [ident, bic11(ident)] if is_valid("BIC", ident) else [ident]  # PUMADE77 is PUMADE77XXX
    lei = db.read_scalar(
        """
        SELECT coalesce(
          (SELECT lei FROM refdata.entities WHERE lei = :i LIMIT 1),
          (SELECT to_id FROM refdata.xref WHERE from_id = ANY(:ids) AND kind IN ('BIC-LEI', 'ISIN-LEI', 'PERMID-LEI')
            ORDER BY retired_on IS NOT NULL, as_of DESC, to_id LIMIT 1),
          (SELECT to_id FROM refdata.xref WHERE from_id = regexp_replace(:i, '^.*1-', '') AND kind = 'PERMID-LEI'
            ORDER BY retired_on IS NOT NULL, as_of DESC, to_id LIMIT 1),
          (SELECT x.to_id FROM refdata.xref f JOIN refdata.xref x ON x.from_id = f.from_id AND x.kind = 'ISIN-LEI'
            WHERE f.to_id = :i AND f.kind = 'ISIN-FIGI'
            ORDER BY x.retired_on IS NOT NULL, x.as_of DESC, x.to_id LIMIT 1))""",
        {"i": ident, "ids": ids},
        engine=engine,
    )
    entity = db.read_frame(
        "SELECT lei, legal_name, country, city, status, registered_on, source "
        "FROM refdata.entities WHERE lei = :l AND valid_to IS NULL",
        {"l": lei},
        engine=engine,
    )
    identifiers = db.read_frame(
        """
        SELECT kind, from_id AS identifier, source, as_of, retired_on FROM refdata.xref WHERE to_id = :l
        UNION ALL
        SELECT x.kind, x.to_id, x.source, x.as_of, x.retired_on FROM refdata.xref x
        JOIN refdata.xref i ON i.from_id = x.from_id AND i.kind = 'ISIN-LEI' AND i.to_id = :l
            AND i.retired_on IS NULL
        WHERE x.kind = 'ISIN-FIGI'
        ORDER BY 1, 2""",
        {"l": lei},
        engine=engine,
    )
    instruments = db.read_frame(
        """
        SELECT i.figi, i.ticker, i.exch_code, i.mic, i.currency, i.security_type, f.from_id AS isin
        FROM refdata.instruments i JOIN refdata.xref f ON f.kind = 'ISIN-FIGI' AND f.to_id = i.figi
        JOIN refdata.xref l ON l.kind = 'ISIN-LEI' AND l.from_id = f.from_id AND l.to_id = :l
        WHERE i.valid_to IS NULL AND f.retired_on IS NULL AND l.retired_on IS NULL ORDER BY i.ticker, i.figi""",
        {"l": lei},
        engine=engine,
    )
    return {"entity": entity, "identifiers": identifiers, "instruments": instruments}


def quality(engine: sa.Engine | None = None) -> pd.DataFrame:
    """Coverage and disagreements between sources, as counts a data steward can act on."""
    return db.read_frame(
        QUALITY_SQL.read_text(),
        {"jobs": REFUSED_JOBS},
        engine=engine,
    ).set_index("measure")


def refused(step, *args, **kwargs) -> str | None:
    """Call ``step``; the message of the error it raised on purpose (a refused load: the lesson
    shows it), or None when it was accepted."""
    try:
        step(*args, **kwargs)
    except FdeError as error:
        return str(error)
    return None


def show(identifier: str, engine: sa.Engine | None = None) -> None:
    """Display the security-master answer for ``identifier`` as three tables."""
    from IPython.display import Markdown, display

    answer = security_master(identifier, engine)
    if answer["entity"].empty:
        display(Markdown(f"**{identifier}**: nothing known"))
        return
    for title, frame in answer.items():
        display(Markdown(f"**{title}**"))
        display(frame)


def lookup_widget(value: str = ""):
    """A text box and a button: look an identifier up in the security master."""
    import ipywidgets as widgets

    box = widgets.Text(value=value, description="identifier", placeholder="LEI, ISIN, FIGI or BIC")
    button = widgets.Button(description="Look up")
    out = widgets.Output()

    def look(_):
        with out:
            out.clear_output()
            show(box.value)

    button.on_click(look)
    return widgets.VBox([widgets.HBox([box, button]), out])


def links_by_kind(engine: sa.Engine | None = None) -> pd.DataFrame:
    """The security master's current cross-references, counted by kind and source."""
    return db.read_frame(
        "SELECT kind, source, count(*)::int AS links FROM refdata.xref WHERE retired_on IS NULL "
        "GROUP BY kind, source ORDER BY kind, source",
        engine=engine or db.get_engine(),
    )


def plot_links(engine: sa.Engine | None = None) -> None:
    """:func:`links_by_kind` as bars, one per kind and source: which source made how many links."""
    from .. import viz

    links = links_by_kind(engine)
    links["kind (source)"] = links["kind"] + " (" + links["source"] + ")"
    viz.bars(
        links,
        x="kind (source)",
        y="links",
        title="Cross-references in the security master, by kind and source",
        ylabel="current links",
    )
