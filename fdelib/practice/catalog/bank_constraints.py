"""02_bank_db/03_constraints: which constraint refuses a statement, write a CHECK and the
statement that proves it refuses, write a trigger.

The DDL exercises run on a scratch copy of two small tables (``accounts`` and ``ledger``,
below), never on the bank: the learner's script is applied to the copy, then good rows must
still pass and bad rows must be refused, as the lesson's solution accepts and refuses them.
"""

from __future__ import annotations

from fdelib.practice import Catalog, Probe, Wrong, sqlcheck
from fdelib.practice.sqlkinds import RefusedBy, SqlScript

catalog = Catalog("02_bank_db/03_constraints.ipynb")

# A scratch copy of what the rules are about: account 2 is closed; the ledger holds only
# credits, so a CHECK that wrongly refuses debits still installs and is caught by a probe.
LEDGER = """
CREATE TABLE accounts (
    account_id integer PRIMARY KEY,
    closed_on  date);
INSERT INTO accounts VALUES (1, NULL), (2, '2026-01-02'), (3, NULL);
CREATE TABLE ledger (
    entry_id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id integer NOT NULL REFERENCES accounts,
    kind       text NOT NULL CONSTRAINT ledger_kind_check
                    CHECK (kind IN ('deposit', 'withdrawal', 'transfer_in', 'transfer_out')),
    amount     numeric(14,2) NOT NULL);
INSERT INTO ledger (account_id, kind, amount) VALUES (1, 'deposit', 100.00), (2, 'deposit', 50.00);
"""

# The lesson's answer to ledger_amount_sign, for the exercise that proves it refuses.
SIGN_CHECK = """
ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign
    CHECK (CASE WHEN kind IN ('deposit', 'transfer_in') THEN amount > 0 ELSE amount < 0 END);
"""


def _insert(account: int, kind: str, amount: str) -> str:
    return f"INSERT INTO ledger (account_id, kind, amount) VALUES ({account}, '{kind}', {amount})"


class RefusingScript(SqlScript):
    """A constraint or trigger script whose refusals must also carry the right SQLSTATE:
    says so plainly when a probe is refused with another one."""

    cache_expected = True  # (a class attribute: the fixture is all the reference reads)

    def difference(self, got, expected):
        if not isinstance(got, sqlcheck.SqlError):
            for probe, mine, theirs in zip(self.probes, got, expected, strict=True):
                if mine[0] == theirs[0] == "refused" and mine[1] != theirs[1]:
                    return (
                        f"{probe.label}: refused, but with SQLSTATE {mine[1]}; an application "
                        f"catches this rule as SQLSTATE {theirs[1]} (check_violation)."
                    )
                if probe.label == NAMED_REFUSAL and mine != theirs and mine[0] == "accepted":
                    said, wanted = mine[1][0][0].split(" ", 1), theirs[1][0][0].split(" ", 1)
                    if said[0] == wanted[0]:
                        return (
                            f"Refused with SQLSTATE {said[0]}, but the error names {said[1]}: write "
                            f"CONSTRAINT = '{wanted[1]}' in the RAISE's USING, the name the question "
                            "asks for (an application catches the rule by it)."
                        )
        return super().difference(got, expected)


# --- 1. which constraint refuses it (value) ----------------------------------------------------

catalog.value(
    "refusing_constraint",
    name="refused_by",
    answer="transactions_counterpart_check",
    blank_hint='Assign the constraint\'s name as a string, e.g. refused_by = "transactions_kind_check". '
    "Read the row column by column against the ledger's constraints (schema.sql, or the "
    "table above): which one does it break?",
    wrong=[
        Wrong(
            'refused_by = "transactions_counterpart_fk"\n',
            "A foreign key is only checked when its column has a value: counterpart_id is NULL "
            'here, so transactions_counterpart_fk has nothing to check. The rule "a transfer_in '
            'names its debit" is a CHECK that ties counterpart_id to the kind.',
        ),
        Wrong(
            'refused_by = "transactions_counterpart_key"\n',
            "A unique key treats NULLs as distinct: any number of rows may have no counterpart. "
            "What refuses this row is the CHECK that a transfer_in must have one.",
        ),
        Wrong(
            'refused_by = "transactions_chain"\n',
            "The chain holds: balance_after is the account's balance + 25.00, the amount. And a "
            "table's CHECKs are tested on the row before its AFTER triggers (the chain) run.",
        ),
    ],
    passed="kind = 'transfer_in' but no counterpart_id: transactions_counterpart_check, "
    "(kind = 'transfer_in') = (counterpart_id IS NOT NULL). NULLs pass foreign and unique "
    "keys, so a rule that a value must be there is a CHECK (or NOT NULL).",
)

# --- 2. a CHECK that refuses a bad row, and keeps the good ones --------------------------------

SIGN_NAMED = "a constraint named ledger_amount_sign"
SIGN_PROBES = [
    Probe(_insert(1, "deposit", "25.00"), "accepted", "a deposit of +25.00"),
    Probe(_insert(1, "withdrawal", "-25.00"), "accepted", "a withdrawal of -25.00"),
    Probe(_insert(3, "transfer_in", "10.00"), "accepted", "a transfer's credit (transfer_in +10.00)"),
    Probe(_insert(1, "transfer_out", "-10.00"), "accepted", "a transfer's debit (transfer_out -10.00)"),
    Probe(_insert(1, "withdrawal", "25.00"), "refused", "a withdrawal booked as +25.00"),
    Probe(_insert(1, "transfer_out", "10.00"), "refused", "a transfer_out booked as +10.00"),
    Probe(_insert(1, "deposit", "-25.00"), "refused", "a deposit of -25.00"),
    Probe(_insert(1, "deposit", "0.00"), "refused", "a deposit of 0.00"),
    Probe(
        "SELECT count(*) AS named FROM pg_constraint "
        "WHERE conrelid = 'ledger'::regclass AND conname = 'ledger_amount_sign'",
        "accepted",
        SIGN_NAMED,
    ),
]
SIGN_SAYS = {
    SIGN_NAMED: "Your rule works, but the ledger has no constraint named ledger_amount_sign: write ALTER "
    "TABLE ledger ADD CONSTRAINT ledger_amount_sign CHECK (...), the name the question asks for (the "
    "next exercise, and an application catching the error, find the rule by it)."
}

catalog.add(
    RefusingScript(
        id="ledger_amount_sign",
        notebook=catalog.notebook,
        blank=(
            "%%sql --save ledger_amount_sign --no-execute\n"
            "-- ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign CHECK (...)\n"
        ),
        blank_hint="Write ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign CHECK (...) under the "
        "cell's first line, run the cell (it only saves your SQL), then this check: it applies "
        "your constraint to a scratch copy of the ledger and tries good and bad rows.",
        wrong=(
            Wrong(
                "%%sql --save ledger_amount_sign --no-execute\n"
                "ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign CHECK (amount > 0)\n",
                "amount > 0 holds for credits only: a withdrawal is booked negative (-25.00), so your "
                "CHECK refuses every valid debit. The sign depends on the kind: CASE WHEN kind IN "
                "(...credits...) THEN amount > 0 ELSE amount < 0 END.",
            ),
            Wrong(
                "%%sql --save ledger_amount_sign --no-execute\n"
                "ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign CHECK (amount <> 0)\n",
                "amount <> 0 refuses only zero: a withdrawal booked as +25.00 passes, and the balance "
                "would grow by 25.00 instead of shrinking. Tie the sign to the kind.",
            ),
            Wrong(
                "%%sql --save ledger_amount_sign --no-execute\n"
                "ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign\n"
                "    CHECK (CASE WHEN kind = 'deposit' THEN amount > 0 ELSE amount < 0 END)\n",
                "A transfer's credit (transfer_in) is money coming in too: your CHECK refuses it. "
                "List both credit kinds: kind IN ('deposit', 'transfer_in').",
            ),
        ),
        passed="Good rows pass, every bad sign is refused, whoever writes the row: that is why the "
        "bank keeps transactions_amount_sign in the table, not in the application.",
        probes=tuple(SIGN_PROBES),
        says=SIGN_SAYS,
        fixture=LEDGER,
    )
)


# --- 3. the statement that proves it refuses --------------------------------------------------


catalog.add(
    RefusedBy(
        id="ledger_sign_proof",
        notebook=catalog.notebook,
        blank=(
            "%%sql --save ledger_sign_proof --no-execute\n"
            "-- INSERT INTO ledger (account_id, kind, amount) VALUES (...)\n"
        ),
        blank_hint="Write one INSERT INTO ledger (account_id, kind, amount) VALUES (...) that "
        "ledger_amount_sign must refuse, run the cell (it saves it), then this check.",
        wrong=(
            Wrong(
                "%%sql --save ledger_sign_proof --no-execute\n" + _insert(1, "withdrawal", "-25.00") + "\n",
                "That row is valid (a withdrawal booked negative), so the database accepts it: a proof "
                "that a rule refuses needs a row that breaks the rule.",
            ),
            Wrong(
                "%%sql --save ledger_sign_proof --no-execute\n"
                "INSERT INTO ledger (kind, amount) VALUES ('withdrawal', 25.00)\n",
                "Refused, but by NOT NULL on account_id, before the sign is looked at: this test would "
                "pass even without ledger_amount_sign. Make the row valid in every other way.",
            ),
            Wrong(
                "%%sql --save ledger_sign_proof --no-execute\n" + _insert(1, "deposits", "-25.00") + "\n",
                "'deposits' is not a kind: ledger_kind_check refuses the row, so it says nothing about "
                "the sign. Use a real kind ('deposit') with the wrong sign.",
            ),
        ),
        passed="Refused by ledger_amount_sign and nothing else: compare the constraint's name "
        '(exc.diag.constraint_name), never just "it raised" — as the bank\'s rule tests do.',
        fixture=LEDGER + SIGN_CHECK,
        constraint="ledger_amount_sign",
    )
)


# --- 4. a trigger: no booking on a closed account ---------------------------------------------

# What a refusal names (its SQLSTATE and constraint, as the driver's diagnostics give them): the
# question asks for CONSTRAINT = 'ledger_account_open', which an application catches by name.
REFUSAL = """
CREATE FUNCTION refusal(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_constraint text;
BEGIN
    EXECUTE statement;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_constraint = CONSTRAINT_NAME;
    RETURN v_state || ' ' || coalesce(nullif(v_constraint, ''), '(no constraint named)');
END $$;
"""
NAMED_REFUSAL = "the name a refusal gives"

TRIGGER_PROBES = [
    Probe(_insert(1, "deposit", "10.00"), "accepted", "a deposit on open account 1"),
    Probe(_insert(2, "deposit", "10.00"), "refused", "a deposit on closed account 2"),
    Probe(
        f"{_insert(3, 'deposit', '5.00')}, (2, 'withdrawal', -5.00)",
        "refused",
        "one INSERT of two rows, the second on closed account 2",
    ),
    Probe(
        f"{_insert(2, 'deposit', '5.00')}, (1, 'deposit', 5.00)",
        "refused",
        "one INSERT of two rows, the first on closed account 2",
    ),
    Probe("UPDATE accounts SET closed_on = '2026-01-05' WHERE account_id = 3", "accepted", "closing account 3"),
    Probe(_insert(3, "withdrawal", "-5.00"), "refused", "a withdrawal on account 3, now closed"),
    Probe("SELECT account_id, kind, amount FROM ledger ORDER BY entry_id", "accepted", "the rows the ledger keeps"),
    Probe(
        f"SELECT refusal($probe${_insert(2, 'deposit', '1.00')}$probe$) AS refusal",
        "accepted",
        NAMED_REFUSAL,
    ),
]

_TRIGGER = """CREATE FUNCTION ledger_account_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM accounts WHERE {where}) THEN
        RAISE EXCEPTION 'account % is closed', NEW.account_id{using};
    END IF;
    RETURN {returns};
END $$;
CREATE TRIGGER ledger_account_open BEFORE {event} ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_account_open();
"""
_RIGHT = {
    "where": "account_id = NEW.account_id AND closed_on IS NOT NULL",
    "returns": "NEW",
    "event": "INSERT",
    "using": "\n            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_open'",
}


def _trigger(**change: str) -> str:
    return "%%sql --save closed_account_trigger --no-execute\n" + _TRIGGER.format(**(_RIGHT | change))


catalog.add(
    RefusingScript(
        id="closed_account_trigger",
        notebook=catalog.notebook,
        blank=(
            "%%sql --save closed_account_trigger --no-execute\n"
            "-- CREATE FUNCTION ledger_account_open() RETURNS trigger ...\n"
            "-- CREATE TRIGGER ledger_account_open ... ON ledger ...\n"
        ),
        blank_hint="Write the trigger function (LANGUAGE plpgsql, RETURNS trigger) and the CREATE TRIGGER "
        "that runs it for each new ledger row, run the cell (it saves them), then this check.",
        wrong=(
            Wrong(
                _trigger(event="UPDATE"),
                "Your trigger fires on UPDATE, but a booking is a new row: an INSERT. The deposit on the "
                "closed account got in. Fire it BEFORE INSERT (AFTER INSERT works too).",
            ),
            Wrong(
                _trigger(where="closed_on IS NOT NULL"),
                "Your trigger refuses every booking as soon as any account is closed — even a deposit on "
                "open account 1. Look up the row's own account: WHERE account_id = NEW.account_id.",
            ),
            Wrong(
                _trigger(returns="NULL"),
                "Nothing is refused, yet the open account's deposit is not in the ledger: a BEFORE row "
                "trigger that returns NULL silently skips the row. Return NEW to let it in.",
            ),
            Wrong(
                _trigger(using=""),
                "Refused, but with SQLSTATE P0001 (a plain RAISE EXCEPTION): an application cannot "
                "tell it from any other error. Give it USING ERRCODE = 'check_violation', CONSTRAINT = "
                "'ledger_account_open', as the bank's own triggers do.",
            ),
        ),
        passed="Bookings on closed accounts are refused row by row, with a name an application can "
        'catch; bank.deposit and friends do the same check ("account … is closed") before booking.',
        probes=tuple(TRIGGER_PROBES),
        fixture=LEDGER + REFUSAL,
    )
)
