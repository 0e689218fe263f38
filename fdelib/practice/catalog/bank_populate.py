"""02_bank_db/02_populate_query: business queries on the bank, and one loan's interest for a month.

The two queries read the live bank (``bank.accounts``, ``bank.transactions``), which the notebook
has just replaced by the generated bank of its ``seed``: a known copy of the data. The check runs
the learner's query and the lesson's on it, as the learner, in a rolled-back transaction.
"""

from fdelib.practice import Case, Catalog, Wrong

catalog = Catalog("02_bank_db/02_populate_query.ipynb")

# Small copies of the bank's tables, built so that the plausible mistakes give other rows, whatever
# the generated bank holds: a customer whose two accounts together beat a larger single one, one
# with a closed (empty) account, four customers tied for the fifth place (without a tie-break
# another than the lowest id comes out); December's outflows with a deposit netted against them,
# a transfer out late on the 31st, a loan payment, rows at both ends of the month, two accounts tied.
ACCOUNTS = """
CREATE TABLE accounts (account_id integer PRIMARY KEY, account_number text, customer_id integer NOT NULL,
    branch_id integer, kind text NOT NULL, balance numeric(14,2) NOT NULL, opened_on date NOT NULL, closed_on date);
INSERT INTO accounts (account_id, customer_id, kind, balance, opened_on, closed_on) VALUES
    (1, 57, 'checking', 8000.00, '2024-01-02', NULL), (2, 10, 'checking', 6000.00, '2024-01-02', NULL),
    (3, 11, 'savings', 11000.50, '2024-01-02', NULL), (4, 12, 'checking', 9000.00, '2024-01-02', NULL),
    (5, 12, 'savings', 0.00, '2023-01-02', '2024-06-28'), (6, 31, 'checking', 8000.00, '2024-01-02', NULL),
    (7, 10, 'savings', 6000.00, '2024-01-02', NULL), (8, 20, 'checking', 8000.00, '2024-01-02', NULL),
    (9, 14, 'checking', 7000.00, '2024-01-02', NULL), (10, 15, 'checking', -25.00, '2024-01-02', NULL),
    (11, 13, 'checking', 8000.00, '2024-01-02', NULL), (12, 16, 'checking', 9500.00, '2024-01-02', NULL);
"""
LEDGER = """
CREATE TABLE transactions (transaction_id integer PRIMARY KEY, account_id integer NOT NULL, kind text NOT NULL,
    amount numeric(14,2) NOT NULL, balance_after numeric(14,2), booked_at timestamptz NOT NULL, reference text,
    counterpart_id integer, loan_id integer);
INSERT INTO transactions (transaction_id, account_id, kind, amount, booked_at) VALUES
    (1, 1, 'withdrawal', -500.00, '2025-12-10 10:00+00'), (2, 1, 'deposit', 400.00, '2025-12-11 10:00+00'),
    (3, 2, 'transfer_out', -450.00, '2025-12-31 23:30+00'), (4, 2, 'loan_payment', -100.00, '2025-12-05 09:00+00'),
    (5, 3, 'withdrawal', -300.00, '2026-01-01 00:00+00'), (6, 3, 'withdrawal', -200.00, '2025-11-30 23:59+00'),
    (7, 3, 'withdrawal', -250.00, '2025-12-01 00:00+00'), (8, 4, 'withdrawal', -520.00, '2025-12-15 12:00+00'),
    (9, 6, 'withdrawal', -400.00, '2025-12-03 12:00+00'), (10, 5, 'withdrawal', -200.00, '2025-12-20 12:00+00'),
    (11, 5, 'transfer_out', -200.00, '2025-12-21 12:00+00'), (12, 7, 'withdrawal', -100.00, '2025-12-02 12:00+00'),
    (13, 4, 'deposit', 900.00, '2025-12-16 12:00+00');
"""
COPY_ACCOUNTS = (
    "a small copy of bank.accounts (a customer whose two accounts together beat a larger single one, a "
    "closed account, four customers tied for the fifth place)"
)
COPY_LEDGER = (
    "a small copy of bank.transactions (a deposit among December's debits, a transfer out late on the 31st, "
    "a loan payment, rows on both edges of the month, two accounts tied)"
)

catalog.sql_query(
    "customer_total_balance",
    copy=ACCOUNTS,
    copy_of=("bank",),
    copy_says=COPY_ACCOUNTS,
    blank_hint="Write a SELECT on bank.accounts under the cell's first line (keep `%%sql --save "
    "customer_total_balance`), run the cell, then this check. A customer's total is the "
    "sum of the balances of all their accounts: GROUP BY customer_id.",
    wrong=[
        Wrong(
            "%%sql --save customer_total_balance\n"
            "SELECT customer_id, count(*) AS accounts, max(balance) AS total_balance\n"
            "FROM bank.accounts\nGROUP BY customer_id\nORDER BY total_balance DESC, customer_id\nLIMIT 5\n",
            "max(balance) is each customer's largest account, not their total: a customer with two "
            "accounts of 6 000 holds 12 000. Add the balances up with sum(balance).",
        ),
        Wrong(
            "%%sql --save customer_total_balance\n"
            "SELECT customer_id, 1 AS accounts, balance AS total_balance\n"
            "FROM bank.accounts\nORDER BY balance DESC, customer_id\nLIMIT 5\n",
            "Those are the 5 largest accounts, one row per account: a customer may hold several. "
            "Group the accounts by customer_id and add their balances.",
        ),
    ],
    passed="A customer's position is the sum over their accounts: balances are stored per account "
    "(the ledger explains each one), and a customer's view is a GROUP BY away.",
)

catalog.sql_query(
    "top_outflow_december",
    copy=LEDGER,
    copy_of=("bank",),
    copy_says=COPY_LEDGER,
    blank_hint="Write a SELECT on bank.transactions: keep December's rows (booked_at from "
    "'2025-12-01 00:00+00' to before '2026-01-01 00:00+00'), keep the money going out "
    "(amount < 0), add it up per account_id and make it positive.",
    wrong=[
        Wrong(
            "%%sql --save top_outflow_december\n"
            "SELECT account_id, -sum(amount) AS outflow\nFROM bank.transactions\n"
            "WHERE booked_at >= '2025-12-01 00:00+00' AND booked_at < '2026-01-01 00:00+00'\n"
            "GROUP BY account_id\nORDER BY outflow DESC, account_id\nLIMIT 5\n",
            "Without amount < 0 the deposits and transfers in are netted against the money going out: "
            "that is the net flow, not the outflow. Keep only the debits (amount < 0).",
        ),
        Wrong(
            "%%sql --save top_outflow_december\n"
            "SELECT account_id, -sum(amount) AS outflow\nFROM bank.transactions\n"
            "WHERE kind = 'withdrawal'\n"
            "  AND booked_at >= '2025-12-01 00:00+00' AND booked_at < '2026-01-01 00:00+00'\n"
            "GROUP BY account_id\nORDER BY outflow DESC, account_id\nLIMIT 5\n",
            "Withdrawals are not the only money going out: transfers out and loan payments leave the "
            "account too. Every debit has a negative amount: filter on amount < 0, not on one kind.",
        ),
    ],
    passed="The ledger's signed amounts make every flow a filter and a sum; the same query with "
    "amount > 0 gives the inflows, and both together reconcile with the balances.",
)

MONTH_INTEREST_BLANK = """def month_interest(principal, repaid, annual_rate, days):
    ...   # your code here: the interest for the month, rounded to the cent
"""

catalog.function(
    "month_interest",
    name="month_interest",
    cases=[
        Case((10_000, 2_500, 0.06, 31), 38.22),
        Case((250_000, 0, 0.045, 30), 924.66),
        Case((1_200, 200, 0.12, 28), 9.21),
        Case((5_000, 5_000, 0.08, 31), 0.0),
        Case((80_000, 12_345.67, 0.0725, 29), 389.71),
    ],
    hidden=[
        Case((3_650, 0, 0.10, 1), 1.0),
        Case((7_300, 3_650, 0.05, 31), 15.5),
        Case((12_000, 500, 0.0399, 30), 37.71),
    ],
    blank=MONTH_INTEREST_BLANK,
    blank_hint="Write the body: what is still owed (principal - repaid) times the yearly rate, for "
    "days/365 of a year, rounded to 2 decimals.",
    wrong=[
        Wrong(
            "def month_interest(principal, repaid, annual_rate, days):\n"
            "    return round(principal * annual_rate * days / 365, 2)\n",
            "That charges interest on the whole principal, as if nothing had been repaid. Interest "
            "is the price of what is still owed: principal - repaid.",
        ),
        Wrong(
            "def month_interest(principal, repaid, annual_rate, days):\n"
            "    return round((principal - repaid) * annual_rate * days / 360, 2)\n",
            "A 360-day year (30/360, ACT/360) charges more than the bank's actual/365 convention says: divide by 365.",
        ),
        Wrong(
            "def month_interest(principal, repaid, annual_rate, days):\n"
            "    return round((principal - repaid) * annual_rate / 12, 2)\n",
            "A twelfth of a year treats February like January: under actual/365 a month costs "
            "its own number of days, days / 365 of the yearly rate.",
        ),
    ],
    passed="Actual/365 on what is still owed: bank.accrue_interest does this for every loan, day by "
    "day, so a repayment during the month lowers the interest from its day on.",
)
