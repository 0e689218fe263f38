"""Setup is idempotent, the population deterministic and sound, the ERD read from the catalog."""

import pandas as pd
import pytest
import sqlalchemy as sa

from fdelib import bank
from fdelib.bank import clock, erd, ops, population, reports

DIGEST = """SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (
    SELECT row(a.*)::text AS t FROM bank.accounts a UNION ALL SELECT row(x.*)::text FROM bank.transactions x
    UNION ALL SELECT row(c.*)::text FROM bank.customers c UNION ALL SELECT row(l.*)::text FROM bank.loans l
    UNION ALL SELECT row(k.*)::text FROM bank.cards k UNION ALL SELECT row(e.*)::text FROM bank.employees e) s"""


def digest(engine) -> str:
    with bank.ddl.owner_engine(engine).connect() as conn:  # every column: national ids too
        return conn.exec_driver_sql(DIGEST).scalar()


def test_generate_is_deterministic_and_seed_dependent():
    one, two = population.generate(300, seed=9), population.generate(300, seed=9)
    for name, frame in one.frames().items():
        pd.testing.assert_frame_equal(frame, two.frames()[name])
    other = population.generate(300, seed=10)
    assert not one.customers["email"].equals(other.customers["email"])


def test_populate_twice_gives_the_same_bank_and_setup_is_idempotent(engine):
    bank.setup(engine)
    bank.populate(engine, customers=150, seed=4)
    first = digest(engine)
    ops.call(bank.app_engine(engine), "deposit", source=1, amount="5.00")
    bank.setup(engine)  # again, on a live bank: nothing breaks, nothing is lost
    assert digest(engine) != first
    counts = bank.populate(engine, customers=150, seed=4)
    assert digest(engine) == first
    assert counts.loc["customers", "rows"] == 150
    assert reports.table_sizes(engine)["rows"].to_dict() == counts["rows"].to_dict()


def test_population_is_sound_and_uses_the_as_of_clock(engine):
    bank.populate(engine, customers=400, seed=8, as_of="2025-06-30", weeks=6)
    assert ops.ledger_breaks(engine).empty
    with engine.connect() as conn:
        latest = conn.exec_driver_sql(
            "SELECT max(booked_at)::date::text, min(booked_at)::date::text"
            " FROM bank.transactions WHERE kind <> 'opening'"
        ).one()
        kinds = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT kind FROM bank.transactions")}
    assert latest[1] >= "2025-05-19" and latest[0] < "2025-06-30"
    assert clock.now(engine) == clock.course_time("2025-06-30")  # today's bookings: as_of, 09:00 UTC
    assert kinds == {"opening", "deposit", "withdrawal", "transfer_out", "transfer_in", "loan_payment"}


@pytest.mark.parametrize("bad", [{"customers": 0}, {"weeks": -1}])
def test_bad_sizes_are_refused_with_a_clear_message(bad):
    from fdelib.errors import FdeError

    with pytest.raises(FdeError, match="must be between"):
        population.generate(**bad)


def test_erd_comes_from_the_catalog(engine):
    bank.setup(engine)
    graph = erd.relationships(engine)
    assert set(graph.nodes) == set(bank.TABLES) | {"course_clock"}  # the clock has no relationships
    edges = {(u, v, d["label"]) for u, v, d in graph.edges(data=True)}
    assert ("cards", "accounts", "account_id, customer_id") in edges
    assert ("transactions", "loans", "loan_id, account_id") in edges
    assert ("employees", "branches", "branch_id") in edges
    kinds = set(erd.rules(engine)["kind"])
    assert {"check", "foreign key", "unique", "primary key", "unique index", "trigger", "trigger (deferred)"} <= kinds


def test_setup_again_keeps_the_card_check_and_the_triggers_in_place(engine):
    """Setup replaces functions and triggers in place: the Luhn CHECK is not dropped and added
    again (which would re-scan every card), no trigger is dropped and re-created, and a
    superseded helper signature is removed."""
    catalog = """SELECT 'constraint ' || conname, oid FROM pg_constraint
                 WHERE conrelid = 'bank.cards'::regclass AND conname = 'cards_number_luhn'
                 UNION ALL SELECT 'trigger ' || tgname, oid FROM pg_trigger
                 WHERE tgrelid IN ('bank.accounts'::regclass, 'bank.customers'::regclass,
                                   'bank.transactions'::regclass) AND NOT tgisinternal"""
    bank.setup(engine)
    with bank.ddl.owner_engine(engine).begin() as conn:
        before = dict(conn.exec_driver_sql(catalog).all())
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION bank._replayed(text, bigint, numeric) "
            "RETURNS bigint LANGUAGE sql AS 'SELECT NULL::bigint'"
        )
    bank.setup(engine)
    with engine.connect() as conn:
        after = dict(conn.exec_driver_sql(catalog).all())
        replayed = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_proc WHERE proname = '_replayed' AND pronamespace = 'bank'::regnamespace"
        ).scalar()
    assert set(before) == {
        "constraint cards_number_luhn",
        "trigger accounts_balance_explained",
        "trigger accounts_min_balance_ins",
        "trigger accounts_min_balance_upd",
        "trigger customers_min_balance",
        "trigger transactions_append_only",
        "trigger transactions_chain",
    }
    assert after == before
    assert replayed == 1


def test_the_create_table_statements_shown_rebuild_the_schema_they_were_read_from(engine):
    """show.table writes each table's DDL back out of the catalog (what 01_model prints): run in a
    scratch schema, the statements make tables with the same columns, defaults, constraints,
    indexes and triggers as the bank's."""
    import re

    from fdelib import db, show

    bank.setup(engine)
    tables = [*bank.TABLES, "course_clock"]
    ddl_text = "\n".join(str(show.table(f"bank.{t}", engine=engine, max_lines=10_000)) for t in tables)
    assert ddl_text.count("CREATE TABLE ") == len(tables) and "more lines" not in ddl_text
    assert "CONSTRAINT transactions_kind_check CHECK" in ddl_text and "'loan_interest'" in ddl_text
    copy = re.sub(rf"\bbank\.({'|'.join(tables)})\b", r"ddl_copy.\1", ddl_text)
    admin = sa.create_engine(db.admin_url(engine))
    shape = """SELECT c.relname, (SELECT string_agg(pg_get_constraintdef(k.oid), ' | ' ORDER BY k.conname)
                      FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype NOT IN ('n', 't')),
                      (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
                                         || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                                         ', ' ORDER BY a.attnum)
                       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                      (SELECT string_agg(pg_get_indexdef(i.indexrelid), ' | '
                                         ORDER BY i.indexrelid::regclass::text) FROM pg_index i
                       WHERE i.indrelid = c.oid),
                      (SELECT string_agg(t.tgname, ' | ' ORDER BY t.tgname) FROM pg_trigger t
                       WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
               FROM pg_class c WHERE c.relnamespace = CAST(%s AS regnamespace) AND c.relkind = 'r'
               ORDER BY 1"""
    try:
        with admin.connect() as conn:  # (rolled back below: nothing of the copy stays)
            conn.exec_driver_sql("CREATE SCHEMA ddl_copy")
            conn.exec_driver_sql(copy.replace("%", "%%"))
            original = conn.exec_driver_sql(shape, ("bank",)).all()
            rebuilt = conn.exec_driver_sql(shape, ("ddl_copy",)).all()
            conn.rollback()
    finally:
        admin.dispose()
    normalise = lambda rows: [tuple(re.sub(r"\b(ddl_copy|bank)\.", "", str(v)) for v in row) for row in rows]  # noqa: E731
    assert len(original) == len(tables)
    assert normalise(rebuilt) == normalise(original)
