"""02_bank_db/01_model: write a rule of the physical model as a constraint, then the statement
that proves the database refuses what it forbids.

Both run on a scratch copy of a small ``accounts`` table (below), never on the bank: the
learner's constraint is added to the copy, then good and bad rows are tried on it.
"""

from __future__ import annotations

from fdelib.practice import Catalog, Probe, Wrong
from fdelib.practice.sqlkinds import RefusedBy

catalog = Catalog("02_bank_db/01_model.ipynb")

# The scratch table, with the bank's own rule on dates (so a "proof" that breaks that one proves
# nothing). The constraint exercise starts it empty (its probes add the rows: a constraint is
# checked against the rows already there when it is added); the proof runs on three rows:
# account 1 is open and holds money, 2 is open and empty, 3 was closed empty.
TABLE = """
CREATE TABLE accounts (
    account_id integer PRIMARY KEY,
    balance    numeric(14,2) NOT NULL,
    opened_on  date NOT NULL,
    closed_on  date,
    CONSTRAINT accounts_closed_after_opened CHECK (closed_on IS NULL OR closed_on >= opened_on));
"""
ROWS = """
INSERT INTO accounts VALUES (1, 100.00, '2022-08-26', NULL), (2, 0.00, '2023-03-01', NULL),
                            (3, 0.00, '2021-01-04', '2024-06-28');
"""

CLOSED_EMPTY = """
ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty CHECK (closed_on IS NULL OR balance = 0);
"""

NAMED = "a constraint named accounts_closed_empty"
PROBES = (
    Probe("INSERT INTO accounts VALUES (1, 100.00, '2022-08-26', NULL)", "accepted", "an open account holding 100.00"),
    Probe("INSERT INTO accounts VALUES (2, 0.00, '2023-03-01', NULL)", "accepted", "an open, empty account"),
    Probe(
        "UPDATE accounts SET closed_on = '2026-01-02' WHERE account_id = 2",
        "accepted",
        "closing account 2, which is empty",
    ),
    Probe(
        "UPDATE accounts SET closed_on = '2026-01-02' WHERE account_id = 1",
        "refused",
        "closing account 1, which holds 100.00",
    ),
    Probe(
        "UPDATE accounts SET balance = 10.00 WHERE account_id = 2", "refused", "10.00 put into account 2, now closed"
    ),
    Probe(
        "INSERT INTO accounts VALUES (5, -5.00, '2025-01-02', '2025-06-30')",
        "refused",
        "a closed account left overdrawn by 5.00",
    ),
    # each side of the rule, close to zero: "empty" is exactly 0.00, not "less than a unit"
    Probe("UPDATE accounts SET balance = 0.50 WHERE account_id = 2", "refused", "0.50 put into account 2, now closed"),
    Probe(
        "INSERT INTO accounts VALUES (6, -0.01, '2025-01-02', '2025-06-30')",
        "refused",
        "a closed account left overdrawn by 0.01",
    ),
    Probe("INSERT INTO accounts VALUES (7, 0.00, '2025-01-02', '2025-06-30')", "accepted", "an account closed empty"),
    Probe("UPDATE accounts SET balance = -0.50 WHERE account_id = 1", "accepted", "an open account overdrawn by 0.50"),
    Probe(
        "SELECT count(*) AS named FROM pg_constraint "
        "WHERE conrelid = 'accounts'::regclass AND conname = 'accounts_closed_empty'",
        "accepted",
        NAMED,
    ),
)

catalog.sql_script(
    "accounts_closed_empty",
    probes=PROBES,
    fixture=TABLE,
    says={
        NAMED: "Your rule works, but the table has no constraint named accounts_closed_empty: write "
        "ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty CHECK (...), the name the question "
        "asks for (an application's error handling and the next exercise find the rule by it)."
    },
    blank_hint="Write ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty CHECK (...) under the "
    "cell's first line, run the cell (it only saves your SQL), then this check: it adds your "
    "constraint to a scratch copy of accounts and tries good and bad rows on it.",
    wrong=[
        Wrong(
            "%%sql --save accounts_closed_empty --no-execute\n"
            "ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty CHECK (balance = 0)\n",
            "balance = 0 holds for every account, open ones too: your constraint refuses an open "
            "account holding 100.00. The rule is conditional — a closed account is empty: "
            "closed_on IS NULL OR balance = 0.",
        ),
        Wrong(
            "%%sql --save accounts_closed_empty --no-execute\n"
            "ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty\n"
            "    CHECK (closed_on IS NULL OR balance <= 0)\n",
            "balance <= 0 lets an account be closed overdrawn (-5.00): the customer's debt would "
            "disappear with the account. Closed means exactly zero: balance = 0.",
        ),
    ],
    passed="The rule is in the table now: no application, job or psql session can close an account "
    "with money on it (or put money into a closed one) — the database refuses the row itself.",
)


catalog.add(
    RefusedBy(
        id="closed_empty_proof",
        notebook=catalog.notebook,
        blank=(
            "%%sql --save closed_empty_proof --no-execute\n"
            "-- one UPDATE or INSERT on accounts that accounts_closed_empty must refuse\n"
        ),
        blank_hint="Write one UPDATE (or INSERT) on the scratch accounts that only accounts_closed_empty "
        "refuses, run the cell (it saves it), then this check: it runs your statement on the "
        "copy, with the constraint, and looks at which rule refused it.",
        wrong=(
            Wrong(
                "%%sql --save closed_empty_proof --no-execute\n"
                "UPDATE accounts SET closed_on = '2026-01-02' WHERE account_id = 2\n",
                "Account 2 is empty, so closing it is allowed: the database accepts it. Close an account "
                "that still holds money (account 1).",
            ),
            Wrong(
                "%%sql --save closed_empty_proof --no-execute\n"
                "UPDATE accounts SET closed_on = '2020-01-01' WHERE account_id = 1\n",
                "Refused, but by accounts_closed_after_opened: account 1 opened in 2022, so it cannot "
                "close in 2020 whatever its balance. Close it on a date after it opened.",
            ),
            Wrong(
                "%%sql --save closed_empty_proof --no-execute\n"
                "INSERT INTO accounts (account_id, balance, closed_on) VALUES (4, 50.00, '2026-01-02')\n",
                "Refused, but by NOT NULL on opened_on, before any CHECK is looked at: this statement "
                "would be refused without accounts_closed_empty too. Make the row valid in every other "
                "way (give it an opening date), or close account 1.",
            ),
        ),
        passed="Refused by accounts_closed_empty and by nothing else: a rule's test names the "
        "constraint it expects (psycopg2's exc.diag.constraint_name), as notebook 3's rule tests do.",
        fixture=TABLE + ROWS + CLOSED_EMPTY,
        constraint="accounts_closed_empty",
    )
)


# --- a derived column, audited: loans.outstanding against the ledger ---------------------------

# Loan 1 is sound; loan 2 is sound too but was charged interest (which is not a repayment); loan 3
# has no ledger row at all and lost 50.00; loan 4 ignores its payment; loan 5 has only interest
# rows and lost 50.00 (a filter on the kind in WHERE drops it); loan 6 has only interest and is sound.
LOAN_LEDGER = """
CREATE TABLE loans (loan_id integer PRIMARY KEY, principal numeric(14,2) NOT NULL,
                    outstanding numeric(14,2) NOT NULL);
CREATE TABLE transactions (transaction_id integer PRIMARY KEY, loan_id integer, kind text NOT NULL,
                           amount numeric(14,2) NOT NULL);
INSERT INTO loans VALUES (1, 1000.00, 800.00), (2, 500.00, 450.00), (3, 300.00, 250.00), (4, 200.00, 200.00),
    (5, 400.00, 350.00), (6, 150.00, 150.00);
INSERT INTO transactions VALUES (10, 1, 'loan_payment', -100.00), (11, 1, 'loan_payment', -100.00),
    (12, 2, 'loan_payment', -50.00), (13, 2, 'loan_interest', -4.20), (14, NULL, 'deposit', 75.00),
    (15, 4, 'loan_payment', -20.00), (16, 5, 'loan_interest', -3.10), (17, 6, 'loan_interest', -1.25);
"""

catalog.sql_query(
    "outstanding_audit",
    fixture=LOAN_LEDGER,
    blank_hint="Write a SELECT on loans and transactions (no schema name): each loan's principal plus "
    "its loan_payment amounts (they are negative), kept only where that differs from "
    "outstanding. Run the cell (it saves it), then this check.",
    wrong=[
        Wrong(
            "%%sql --save outstanding_audit --no-execute\n"
            "SELECT l.loan_id, l.outstanding, l.principal + coalesce(sum(t.amount), 0) AS derived\n"
            "FROM loans l LEFT JOIN transactions t ON t.loan_id = l.loan_id\n"
            "GROUP BY l.loan_id, l.outstanding, l.principal\n"
            "HAVING l.outstanding <> l.principal + coalesce(sum(t.amount), 0)\nORDER BY l.loan_id\n",
            "Every row naming the loan counts in your sum, interest included: a loan charged 4.20 of "
            "interest looks broken. Interest is the price of the loan, not a repayment — keep only "
            "kind = 'loan_payment'.",
        ),
        Wrong(
            "%%sql --save outstanding_audit --no-execute\n"
            "SELECT l.loan_id, l.outstanding, l.principal + sum(t.amount) AS derived\n"
            "FROM loans l JOIN transactions t ON t.loan_id = l.loan_id\n"
            "WHERE t.kind = 'loan_payment'\n"
            "GROUP BY l.loan_id, l.outstanding, l.principal\n"
            "HAVING l.outstanding <> l.principal + sum(t.amount)\nORDER BY l.loan_id\n",
            "A loan without any payment row disappears from an inner join (or a LEFT JOIN filtered "
            "in WHERE): loan 3 lost 50.00 with no row explaining it, and your audit misses it. LEFT "
            "JOIN with the kind in the ON clause, and coalesce(sum(t.amount), 0).",
        ),
    ],
    passed="That is one check of bank.ledger_breaks(): a derived column is only as good as the query "
    "that derives it again — and the loans without any row are the ones to catch.",
)
