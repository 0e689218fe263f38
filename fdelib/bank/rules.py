"""Every rule of the bank, broken on purpose, and the database's refusal.

:data:`RULES` lists one attempt per rule: the SQL that breaks it, the role that tries —
``owner``: ``bank_owner``, which owns every table (through fdelib's privileged connection, see
:func:`.ddl.owner_engine`), to show that the rules hold even for the most powerful role on
the bank; ``app``: the application role ``bank_app``; ``notebook``: the role the notebooks
connect as — and the refusal expected (psycopg2 error class and a message fragment).
:func:`try_rule` runs an attempt in its own transaction and rolls it back (or commits it,
for rules checked at COMMIT: the commit is what fails), so the bank is unchanged.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import psycopg2
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from .. import db
from .ddl import APP_ROLE, OWNER_ROLE, app_engine, notebook_role, owner_engine
from .ops import Refusal

# Rows the attempts start from (deterministic for a given population).
FIRST_FREE_ACCOUNT = (
    "(SELECT a.account_id FROM bank.accounts a JOIN bank.customers c USING (customer_id)"
    " WHERE c.min_balance = 0 ORDER BY a.account_id LIMIT 1)"
)


def _rich_account(n: int) -> str:
    """The ``n``-th (0-based) open account with at least 100.00 above its customer's minimum."""
    return (
        "(SELECT a.account_id FROM bank.accounts a JOIN bank.customers c USING (customer_id)"
        f" WHERE a.closed_on IS NULL AND a.balance - c.min_balance >= 100 ORDER BY a.account_id"
        f" LIMIT 1 OFFSET {n})"
    )


NEW_CUSTOMER = (
    "INSERT INTO bank.customers (first_name, last_name, email, national_id, date_of_birth,"
    " home_branch_id, joined_on, min_balance) VALUES "
)
NEW_EMPLOYEE = "INSERT INTO bank.employees (branch_id, first_name, last_name, email, role, hired_on) VALUES "
NEW_ACCOUNT = "INSERT INTO bank.accounts (account_number, customer_id, branch_id, kind, opened_on, closed_on) "
NEW_CARD = "INSERT INTO bank.cards (card_number, customer_id, account_id, kind, issued_on, expires_on) "
NEW_LOAN = (
    "INSERT INTO bank.loans (customer_id, account_id, officer_id, principal, annual_rate, term_months,"
    " start_date, outstanding) "
)
# (booked_at is left to its default: the bank's clock, as for the operations)
NEW_LEDGER_ROW = (
    "INSERT INTO bank.transactions (account_id, kind, amount, balance_after, counterpart_id, loan_id, reference) "
)


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str  # the business rule, in words
    attempt: str  # what we try, in words
    sql: tuple[str, ...]  # statements run in one transaction
    error: str  # the psycopg2.errors class expected
    fragment: str  # part of the server's message (or constraint name) expected
    role: str = "owner"  # "owner" (bank_owner), "app" (bank_app) or "notebook" (the notebooks' role)
    commit: bool = False  # the rule is checked at COMMIT (deferred)
    section: str = ""  # customers, accounts, cards and loans, ...
    constraint: str | None = None  # the constraint or rule trigger the error names (None: none)


def _r(name, attempt, sql, error, fragment, **kw) -> Rule:
    """A rule refused by a check that names no constraint (an operation's argument, a privilege)."""
    return Rule(name, attempt, (sql,) if isinstance(sql, str) else tuple(sql), error, fragment, **kw)


def _c(name, attempt, sql, error, constraint, fragment=None, **kw) -> Rule:
    """A rule refused by a named constraint, or by a trigger that names the rule it enforces."""
    return _r(name, attempt, sql, error, fragment or constraint, constraint=constraint, **kw)


def _section(name: str, *rules: Rule) -> list[Rule]:
    return [dataclasses.replace(rule, section=name) for rule in rules]


RULES: list[Rule] = [
    *_section(
        "customers",
        _c(
            "every record has a unique id (primary key)",
            "a new customer with customer_id 1",
            "INSERT INTO bank.customers (customer_id, first_name, last_name, email, national_id, date_of_birth,"
            " home_branch_id, joined_on, min_balance) VALUES (1, 'Ann', 'Other', 'ann@other.example',"
            " '999-99-9989', '1980-01-01', 1, '2020-01-01', 0)",
            "UniqueViolation",
            "customers_pkey",
        ),
        _c(
            "customer e-mail is unique, whatever its case",
            "a new customer with customer 1's e-mail, capitalised",
            NEW_CUSTOMER[:-8] + " SELECT 'Ann', 'Other', upper(left(email, 1)) || substr(email, 2),"
            " '999-99-9990', '1980-01-01', 1, '2020-01-01', 0 FROM bank.customers ORDER BY customer_id LIMIT 1",
            "UniqueViolation",
            "customers_email_key",
        ),
        _c(
            "customer e-mail is well-formed",
            "e-mail 'ann.other'",
            NEW_CUSTOMER + "('Ann', 'Other', 'ann.other', '999-99-9991', '1980-01-01', 1, '2020-01-01', 0)",
            "CheckViolation",
            "customers_email_format",
        ),
        _c(
            "national id is unique",
            "a new customer with customer 1's national id",
            NEW_CUSTOMER[:-8] + " SELECT 'Ann', 'Other', 'ann@other.example', national_id, '1980-01-01', 1,"
            " '2020-01-01', 0 FROM bank.customers ORDER BY customer_id LIMIT 1",
            "UniqueViolation",
            "customers_national_id_key",
        ),
        _c(
            "national id is well-formed (999-99-9999)",
            "national id '999999988'",
            NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999999988', '1980-01-01', 1, '2020-01-01', 0)",
            "CheckViolation",
            "customers_national_id_format",
        ),
        _r(
            "a customer has a last name (NOT NULL)",
            "last_name NULL",
            NEW_CUSTOMER + "('Ann', NULL, 'ann@other.example', '999-99-9992', '1980-01-01', 1, '2020-01-01', 0)",
            "NotNullViolation",
            "last_name",
        ),
        _c(
            "customers are adults when they join",
            "born 2015, joined 2020",
            NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999-99-9993', '2015-01-01', 1, '2020-01-01', 0)",
            "CheckViolation",
            "customers_adult_check",
        ),
        _c(
            "a customer's minimum balance is not negative",
            "min_balance -1.00",
            NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999-99-9994', '1980-01-01', 1, '2020-01-01', -1)",
            "CheckViolation",
            "customers_min_balance_check",
        ),
        _c(
            "... and a finite number (NaN passes `>= 0`: NaN sorts above every number)",
            "min_balance 'NaN'",
            NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999-99-9996', '1980-01-01', 1, '2020-01-01', 'NaN')",
            "CheckViolation",
            "customers_min_balance_finite",
        ),
        _c(
            "a customer's home branch exists",
            "home branch 9999",
            NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999-99-9995', '1980-01-01', 9999, '2020-01-01', 0)",
            "ForeignKeyViolation",
            "customers_branch_fk",
        ),
        _c(
            "a minimum cannot be raised above a balance",
            "customer 1's minimum set 1 cent above their richest account",
            "UPDATE bank.customers SET min_balance = (SELECT max(balance) + 0.01 FROM bank.accounts"
            " WHERE customer_id = 1) WHERE customer_id = 1",
            "CheckViolation",
            "accounts_min_balance",
            "is above the balance",
        ),
    ),
    *_section(
        "accounts",
        _c(
            "an account belongs to an existing customer",
            "an account for customer 999999",
            NEW_ACCOUNT + "VALUES ('AC0000000001', 999999, 1, 'checking', '2025-01-01', NULL)",
            "ForeignKeyViolation",
            "accounts_customer_fk",
        ),
        _c(
            "an account is held at an existing branch",
            "an account at branch 9999",
            NEW_ACCOUNT + "VALUES ('AC0000000001', 1, 9999, 'checking', '2025-01-01', NULL)",
            "ForeignKeyViolation",
            "accounts_branch_fk",
        ),
        _c(
            "account numbers are unique",
            "a second account with account 1's number",
            NEW_ACCOUNT + "SELECT account_number, customer_id, branch_id, 'savings', opened_on, NULL"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "UniqueViolation",
            "accounts_number_key",
        ),
        _c(
            "account numbers are well-formed (AC + 10 digits)",
            "account number 'AC-1'",
            NEW_ACCOUNT + "VALUES ('AC-1', 1, 1, 'checking', '2025-01-01', NULL)",
            "CheckViolation",
            "accounts_number_format",
        ),
        _c(
            "an account is checking or savings",
            "kind 'crypto'",
            NEW_ACCOUNT + "VALUES ('AC0000000002', 1, 1, 'crypto', '2025-01-01', NULL)",
            "CheckViolation",
            "accounts_kind_check",
        ),
        _c(
            "an account is closed after it is opened",
            "opened 2025-01-01, closed 2024-12-31",
            NEW_ACCOUNT + "VALUES ('AC0000000003', 1, 1, 'checking', '2025-01-01', '2024-12-31')",
            "CheckViolation",
            "accounts_closed_after_opened",
        ),
        _c(
            "a balance is a finite number",
            "a new account with balance 'NaN'",
            "INSERT INTO bank.accounts (account_number, customer_id, branch_id, kind, balance, opened_on)"
            " VALUES ('AC0000000005', 1, 1, 'checking', 'NaN', '2025-01-01')",
            "CheckViolation",
            "accounts_balance_finite",
        ),
        _c(
            "a balance never drops below the customer's minimum",
            "withdraw 1 cent more than account 1's headroom",
            "SELECT bank.withdraw(a.account_id, a.balance - c.min_balance + 0.01) FROM bank.accounts a"
            " JOIN bank.customers c USING (customer_id) ORDER BY a.account_id LIMIT 1",
            "CheckViolation",
            "accounts_min_balance",
            "below the minimum",
            role="app",
        ),
        _c(
            "... nor through a transfer",
            "transfer 1 cent more than account 1's headroom to account 2",
            "SELECT bank.transfer(a.account_id, a.account_id + 1, a.balance - c.min_balance + 0.01)"
            " FROM bank.accounts a JOIN bank.customers c USING (customer_id) ORDER BY a.account_id LIMIT 1",
            "CheckViolation",
            "accounts_min_balance",
            "below the minimum",
            role="app",
        ),
        _c(
            "... nor does a new account start below it",
            "a new account 1 cent below its customer's minimum",
            "INSERT INTO bank.accounts (account_number, customer_id, branch_id, kind, balance, opened_on)"
            " SELECT 'AC0000000004', customer_id, home_branch_id, 'checking', min_balance - 0.01, '2025-01-01'"
            " FROM bank.customers WHERE min_balance > 0 ORDER BY customer_id LIMIT 1",
            "CheckViolation",
            "accounts_min_balance",
            "below the minimum",
        ),
    ),
    *_section(
        "cards and loans",
        _c(
            "a card belongs to an existing customer",
            "a card for customer 999999",
            NEW_CARD + "SELECT '4111111111111111', 999999, account_id, 'debit', '2025-01-01', '2029-01-01'"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "ForeignKeyViolation",
            "cards_customer_fk",
        ),
        _c(
            "a card's account belongs to the card's customer",
            "a card for customer 1 on another customer's account",
            NEW_CARD
            + "SELECT '4111111111111111', 1, account_id, 'debit', '2025-01-01', '2029-01-01' FROM bank.accounts"
            " WHERE customer_id <> 1 ORDER BY account_id LIMIT 1",
            "ForeignKeyViolation",
            "cards_account_owner_fk",
        ),
        _c(
            "card numbers are unique",
            "a second card with card 1's number",
            NEW_CARD + "SELECT card_number, customer_id, account_id, kind, issued_on, expires_on FROM bank.cards"
            " ORDER BY card_id LIMIT 1",
            "UniqueViolation",
            "cards_number_key",
        ),
        _c(
            "card numbers pass the Luhn check",
            "card number 4111111111111112",
            NEW_CARD + "SELECT '4111111111111112', customer_id, account_id, 'debit', '2025-01-01', '2029-01-01'"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "cards_number_luhn",
        ),
        _c(
            "a card is debit or credit",
            "kind 'prepaid'",
            NEW_CARD + "SELECT '4111111111111111', customer_id, account_id, 'prepaid', '2025-01-01', '2029-01-01'"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "cards_kind_check",
        ),
        _c(
            "a card expires after it is issued",
            "expires 2024-01-01, issued 2025-01-01",
            NEW_CARD + "SELECT '4111111111111111', customer_id, account_id, 'debit', '2025-01-01', '2024-01-01'"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "cards_expiry_check",
        ),
        _c(
            "a loan's borrower exists",
            "a loan for customer 999999",
            NEW_LOAN + "SELECT 999999, account_id, 1, 1000, 0.05, 12, '2025-01-01', 1000"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "ForeignKeyViolation",
            "loans_customer_fk",
        ),
        _c(
            "a loan is repaid from the borrower's own account",
            "a loan for customer 1 on another customer's account",
            NEW_LOAN + "SELECT 1, account_id, 1, 1000, 0.05, 12, '2025-01-01', 1000"
            " FROM bank.accounts WHERE customer_id <> 1 ORDER BY account_id LIMIT 1",
            "ForeignKeyViolation",
            "loans_account_owner_fk",
        ),
        _c(
            "a loan is granted by an employee",
            "loan officer 9999",
            NEW_LOAN + "SELECT customer_id, account_id, 9999, 1000, 0.05, 12, '2025-01-01', 1000"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "ForeignKeyViolation",
            "loans_officer_fk",
        ),
        _c(
            "a loan's principal is positive",
            "principal 0",
            NEW_LOAN + "SELECT customer_id, account_id, 1, 0, 0.05, 12, '2025-01-01', 0"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "loans_principal_check",
        ),
        _c(
            "... and a finite number",
            "principal 'NaN'",
            NEW_LOAN + "SELECT customer_id, account_id, 1, 'NaN', 0.05, 12, '2025-01-01', 1000"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "loans_principal_finite",
        ),
        _c(
            "a loan's outstanding amount is a finite number",
            "outstanding 'NaN', principal 'NaN' too (so `outstanding <= principal` holds: NaN = NaN)",
            NEW_LOAN + "SELECT customer_id, account_id, 1, 'NaN', 0.05, 12, '2025-01-01', 'NaN'"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "loans_outstanding_finite",
        ),
        _c(
            "a loan's annual rate is a finite number",
            "annual rate 'NaN'",
            NEW_LOAN + "SELECT customer_id, account_id, 1, 1000, 'NaN', 12, '2025-01-01', 1000"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "loans_annual_rate_finite",
        ),
        _c(
            "a loan's annual rate is at least 0 and below 100 %",
            "annual rate 1.5 (150 %)",
            NEW_LOAN + "SELECT customer_id, account_id, 1, 1000, 1.5, 12, '2025-01-01', 1000"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "loans_rate_check",
        ),
        _c(
            "a loan runs 1 to 480 months",
            "a term of 600 months",
            NEW_LOAN + "SELECT customer_id, account_id, 1, 1000, 0.05, 600, '2025-01-01', 1000"
            " FROM bank.accounts ORDER BY account_id LIMIT 1",
            "CheckViolation",
            "loans_term_check",
        ),
        _c(
            "what a loan owes is what its payments leave of the principal (at COMMIT)",
            "lower the outstanding amount of the first loan by 100.00 directly",
            "UPDATE bank.loans SET outstanding = outstanding - 100 WHERE loan_id ="
            " (SELECT min(loan_id) FROM bank.loans WHERE outstanding >= 100)",
            "CheckViolation",
            "loans_outstanding_explained",
            "not explained by its payments",
            commit=True,
        ),
        _c(
            "nobody repays more than they owe",
            "pay 1.00 more than the smallest outstanding loan",
            "SELECT bank.pay_loan(loan_id, outstanding + 1) FROM bank.loans WHERE outstanding > 0"
            " ORDER BY outstanding, loan_id LIMIT 1",
            "CheckViolation",
            "loans_outstanding_check",
            role="app",
        ),
    ),
    *_section(
        "branches and staff",
        _c(
            "branch codes are unique",
            "a second branch BR001",
            "INSERT INTO bank.branches (code, name, city, opened_on) VALUES ('BR001', 'Copy', 'Copy', '2025-01-01')",
            "UniqueViolation",
            "branches_code_key",
        ),
        _c(
            "branch codes are well-formed (BR + 3 digits)",
            "branch code 'B1'",
            "INSERT INTO bank.branches (code, name, city, opened_on) VALUES ('B1', 'Copy', 'Copy', '2025-01-01')",
            "CheckViolation",
            "branches_code_format",
        ),
        _c(
            "a branch has at most one manager",
            "a second manager for branch 1",
            NEW_EMPLOYEE + "(1, 'Max', 'Other', 'max@staff.bank.example', 'manager', '2025-01-01')",
            "UniqueViolation",
            "employees_one_manager_per_branch",
        ),
        _c(
            "an employee works at an existing branch",
            "an employee at branch 9999",
            NEW_EMPLOYEE + "(9999, 'Max', 'Other', 'max@staff.bank.example', 'teller', '2025-01-01')",
            "ForeignKeyViolation",
            "employees_branch_fk",
        ),
        _c(
            "employee e-mail is unique, whatever its case",
            "a new teller with employee 1's e-mail, capitalised",
            NEW_EMPLOYEE[:-8] + " SELECT branch_id, 'Max', 'Other', upper(left(email, 1)) || substr(email, 2),"
            " 'teller', '2025-01-01'"
            " FROM bank.employees ORDER BY employee_id LIMIT 1",
            "UniqueViolation",
            "employees_email_key",
        ),
        _c(
            "employee e-mail is well-formed",
            "e-mail 'max@staff'",
            NEW_EMPLOYEE + "(1, 'Max', 'Other', 'max@staff', 'teller', '2025-01-01')",
            "CheckViolation",
            "employees_email_format",
        ),
        _c(
            "an employee has one of the bank's roles",
            "role 'janitor'",
            NEW_EMPLOYEE + "(1, 'Max', 'Other', 'max@staff.bank.example', 'janitor', '2025-01-01')",
            "CheckViolation",
            "employees_role_check",
        ),
    ),
    *_section(
        "the ledger",
        _c(
            "the ledger is append-only (no edits)",
            "double the amount of transaction 1",
            "UPDATE bank.transactions SET amount = amount * 2 WHERE transaction_id = 1",
            "RestrictViolation",
            "transactions_append_only",
            "cannot be changed or deleted",
        ),
        _c(
            "the ledger is append-only (no deletes)",
            "delete transaction 1",
            "DELETE FROM bank.transactions WHERE transaction_id = 1",
            "RestrictViolation",
            "transactions_append_only",
            "cannot be changed or deleted",
        ),
        _c(
            "a ledger row belongs to an existing account",
            "book 10.00 on account 999999999",
            NEW_LEDGER_ROW + "VALUES (999999999, 'deposit', 10, 10, NULL, NULL, NULL)",
            "ForeignKeyViolation",
            "transactions_account_fk",
        ),
        _c(
            "a ledger row is of a known kind",
            "a row of kind 'gift'",
            NEW_LEDGER_ROW + "VALUES (1, 'gift', -10, 0, NULL, NULL, NULL)",
            "CheckViolation",
            "transactions_kind_check",
        ),
        _c(
            "each ledger row continues its account's chain",
            "book 10.00 on account 1 with a made-up balance_after",
            NEW_LEDGER_ROW + "VALUES (1, 'deposit', 10, 1000000, NULL, NULL, NULL)",
            "CheckViolation",
            "transactions_chain",
            "balance_after",
        ),
        _c(
            "... and time never runs backwards in an account",
            "book 10.00 on account 1 a day before its last row",
            "INSERT INTO bank.transactions (account_id, kind, amount, balance_after, booked_at) SELECT account_id,"
            " 'deposit', 10, balance_after + 10, booked_at - interval '1 day' FROM bank.transactions"
            " WHERE account_id = 1 ORDER BY transaction_id DESC LIMIT 1",
            "CheckViolation",
            "transactions_chronological",
            "before the previous one",
        ),
        _c(
            "a deposit's amount is positive",
            "a deposit row of -10.00",
            NEW_LEDGER_ROW + "VALUES (1, 'deposit', -10, 0, NULL, NULL, NULL)",
            "CheckViolation",
            "transactions_amount_sign",
        ),
        _c(
            "a ledger amount is a finite number",
            "a deposit row of 'NaN' (NaN passes `amount > 0`)",
            NEW_LEDGER_ROW + "VALUES (1, 'deposit', 'NaN', 0, NULL, NULL, NULL)",
            "CheckViolation",
            "transactions_amount_finite",
        ),
        _c(
            "... and so is the balance after it",
            "a deposit row of 10.00 with balance_after 'NaN'",
            NEW_LEDGER_ROW + "VALUES (1, 'deposit', 10, 'NaN', NULL, NULL, NULL)",
            "CheckViolation",
            "transactions_balance_after_finite",
        ),
        _c(
            "a transfer's credit points at its debit",
            "a transfer_in row without counterpart",
            NEW_LEDGER_ROW + "VALUES (1, 'transfer_in', 10, 0, NULL, NULL, NULL)",
            "CheckViolation",
            "transactions_counterpart_check",
        ),
        _c(
            "... which exists",
            "a transfer_in row pointing at transaction 999999999",
            NEW_LEDGER_ROW + "VALUES (1, 'transfer_in', 10, 0, 999999999, NULL, NULL)",
            "ForeignKeyViolation",
            "transactions_counterpart_fk",
        ),
        _c(
            "... and has only one credit",
            "a second credit for the first transfer's debit",
            NEW_LEDGER_ROW + "SELECT 1, 'transfer_in', 10, 0, counterpart_id, NULL, NULL"
            " FROM bank.transactions WHERE kind = 'transfer_in' ORDER BY transaction_id LIMIT 1",
            "UniqueViolation",
            "transactions_counterpart_key",
        ),
        _c(
            "a loan payment names its loan (and only a loan payment does)",
            "a loan_payment row without a loan",
            NEW_LEDGER_ROW + "VALUES (1, 'loan_payment', -10, 0, NULL, NULL, NULL)",
            "CheckViolation",
            "transactions_loan_check",
        ),
        _c(
            "a loan payment is debited from the loan's own account",
            "a payment of loan 1 booked on another customer's account",
            NEW_LEDGER_ROW + "SELECT a.account_id, 'loan_payment', -10, a.balance - 10, NULL, l.loan_id, NULL"
            " FROM bank.loans l JOIN bank.accounts a ON a.customer_id <> l.customer_id"
            " ORDER BY l.loan_id, a.account_id LIMIT 1",
            "ForeignKeyViolation",
            "transactions_loan_account_fk",
        ),
        _c(
            "every balance is explained by the ledger (at COMMIT)",
            "add 1 000.00 to account 1's balance directly",
            "UPDATE bank.accounts SET balance = balance + 1000 WHERE account_id = 1",
            "CheckViolation",
            "accounts_balance_explained",
            "not explained by its ledger",
            commit=True,
        ),
    ),
    *_section(
        "operations",
        _r(
            "amounts are positive",
            "deposit -5.00",
            f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, -5)",
            "InvalidParameterValue",
            "must be positive",
            role="app",
        ),
        _r(
            "amounts are finite numbers",
            "deposit 'NaN' (NaN passes `<= 0` and every comparison)",
            f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 'NaN')",
            "InvalidParameterValue",
            "must be a finite number",
            role="app",
        ),
        _r(
            "... Infinity is no amount either",
            "transfer 'Infinity' from account 1 to account 2",
            "SELECT bank.transfer(1, 2, 'Infinity')",
            "InvalidParameterValue",
            "must be a finite number",
            role="app",
        ),
        _r(
            "... nor -Infinity",
            "withdraw '-Infinity' from account 1",
            "SELECT bank.withdraw(1, '-Infinity')",
            "InvalidParameterValue",
            "must be a finite number",
            role="app",
        ),
        _r(
            "amounts are whole cents",
            "deposit 10.005",
            f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 10.005)",
            "InvalidParameterValue",
            "fractions of a cent",
            role="app",
        ),
        _r(
            "no transfer to the same account",
            "transfer 10.00 from account 1 to account 1",
            "SELECT bank.transfer(1, 1, 10)",
            "InvalidParameterValue",
            "to itself",
            role="app",
        ),
        _r(
            "operations need an existing account",
            "deposit into account 999999999",
            "SELECT bank.deposit(999999999, 10)",
            "NoDataFound",
            "no account with id",
            role="app",
        ),
        _r(
            "a closed account takes no money",
            "close account 1, then deposit into it",
            ("UPDATE bank.accounts SET closed_on = opened_on WHERE account_id = 1", "SELECT bank.deposit(1, 10)"),
            "ObjectNotInPrerequisiteState",
            "is closed",
        ),
        _r(
            "the interest job's references are the bank's own",
            "deposit with reference 'interest:1:2025-12'",
            f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 10, 'interest:1:2025-12')",
            "InvalidParameterValue",
            "are the bank's own",
            role="app",
        ),
        _c(
            "a request id is booked once",
            "reuse reference 'req-1' for a different deposit",
            (
                f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 10, 'req-1')",
                f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 20, 'req-1')",
            ),
            "UniqueViolation",
            "transactions_reference_key",
            "(amount differs)",
            role="app",
        ),
        _c(
            "... for one kind of operation",
            "reuse a withdrawal's reference for a transfer of the same amount",
            (
                f"SELECT bank.withdraw({_rich_account(0)}, 10, 'req-2')",
                f"SELECT bank.transfer({_rich_account(0)}, {_rich_account(1)}, 10, 'req-2')",
            ),
            "UniqueViolation",
            "transactions_reference_key",
            "(operation kind differs)",
            role="app",
        ),
        _c(
            "... and one target",
            "reuse a transfer's reference for the same transfer to another account",
            (
                f"SELECT bank.transfer({_rich_account(0)}, {_rich_account(1)}, 10, 'req-3')",
                f"SELECT bank.transfer({_rich_account(0)}, {_rich_account(2)}, 10, 'req-3')",
            ),
            "UniqueViolation",
            "transactions_reference_key",
            "(target account differs)",
            role="app",
        ),
        _c(
            "... even when two requests race (a unique index)",
            "write a second ledger row with an already booked reference, bypassing the check",
            (
                f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 10, 'req-4')",
                NEW_LEDGER_ROW + f"SELECT {FIRST_FREE_ACCOUNT}, 'deposit', 10, 0, NULL, NULL, 'req-4'",
            ),
            "UniqueViolation",
            "transactions_reference_key",
        ),
    ),
    *_section(
        "the bank's clock",
        _r(
            "the bank stamps booking times: no client can backdate",
            "deposit into an account 'as of' 2025-12-01 (the signature that took a time is gone)",
            f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 10, '2025-12-01 09:00+00'::timestamptz, 'backdated')",
            "UndefinedFunction",
            "does not exist",
            role="app",
        ),
        _r(
            "... nor book at 'infinity' (which froze an account for good)",
            "withdraw 10.00 'as of' infinity",
            "SELECT bank.withdraw(1, 10, 'infinity'::timestamptz)",
            "UndefinedFunction",
            "does not exist",
            role="app",
        ),
        _r(
            "an account takes no money before it opens",
            "move account 1's opening to 2199, then deposit into it",
            ("UPDATE bank.accounts SET opened_on = '2199-01-01' WHERE account_id = 1", "SELECT bank.deposit(1, 10)"),
            "ObjectNotInPrerequisiteState",
            "opens on",
        ),
        _c(
            "a booking time is a real time (1970 to 2199), never 'infinity'",
            "a ledger row of account 1 booked at 'infinity'",
            "INSERT INTO bank.transactions (account_id, kind, amount, balance_after, booked_at)"
            " SELECT account_id, 'deposit', 10, balance + 10, 'infinity' FROM bank.accounts WHERE account_id = 1",
            "CheckViolation",
            "transactions_booked_at_sane",
        ),
        _r(
            "the course clock is a real time too",
            "set the course clock to 'infinity'",
            "SELECT bank.set_course_clock('infinity')",
            "InvalidParameterValue",
            "must be a time from 1970",
        ),
        _r(
            "... and never goes back behind the ledger",
            "set the course clock to 2000-01-01",
            "SELECT bank.set_course_clock('2000-01-01 00:00+00')",
            "InvalidParameterValue",
            "before the last booking",
        ),
        _c(
            "... even written directly",
            "store 'infinity' in the course clock's row",
            "INSERT INTO bank.course_clock (only_row, course_time) VALUES (true, 'infinity')"
            " ON CONFLICT (only_row) DO UPDATE SET course_time = excluded.course_time",
            "CheckViolation",
            "course_clock_time_sane",
        ),
        _c(
            "there is one course clock",
            "a second course clock row",
            "INSERT INTO bank.course_clock (only_row, course_time) VALUES (false, NULL)",
            "CheckViolation",
            "course_clock_one_row",
        ),
    ),
    *_section(
        "least privilege",
        _r(
            "the application cannot set balances",
            "UPDATE accounts as bank_app",
            "UPDATE bank.accounts SET balance = balance + 1000000 WHERE account_id = 1",
            "InsufficientPrivilege",
            "permission denied for table accounts",
            role="app",
        ),
        _r(
            "the application cannot write the ledger",
            "INSERT a ledger row as bank_app",
            NEW_LEDGER_ROW + "VALUES (1, 'deposit', 10, 0, NULL, NULL, NULL)",
            "InsufficientPrivilege",
            "permission denied for table transactions",
            role="app",
        ),
        _r(
            "the application cannot lower a floor",
            "UPDATE customers' minimum as bank_app",
            "UPDATE bank.customers SET min_balance = 0 WHERE customer_id = 1",
            "InsufficientPrivilege",
            "permission denied for table customers",
            role="app",
        ),
        _r(
            "the application cannot set the clock",
            "bank.set_course_clock('2020-01-01') as bank_app",
            "SELECT bank.set_course_clock('2020-01-01 00:00+00')",
            "InsufficientPrivilege",
            "permission denied for function set_course_clock",
            role="app",
        ),
        _r(
            "the application cannot call internals",
            "bank._post(...) as bank_app",
            "SELECT bank._post(1, 1000000, 'deposit', now(), NULL, NULL, NULL)",
            "InsufficientPrivilege",
            "permission denied for function _post",
            role="app",
        ),
        _r(
            "the application cannot read national ids",
            "SELECT national_id FROM customers as bank_app",
            "SELECT national_id FROM bank.customers ORDER BY customer_id LIMIT 1",
            "InsufficientPrivilege",
            "permission denied for table customers",
            role="app",
        ),
        _r(
            "... nor can the notebooks' role",
            "the same, as the notebooks' role",
            "SELECT national_id FROM bank.customers ORDER BY customer_id LIMIT 1",
            "InsufficientPrivilege",
            "permission denied for table customers",
            role="notebook",
        ),
        _r(
            "the notebooks' role writes no table either",
            "UPDATE accounts as the notebooks' role",
            "UPDATE bank.accounts SET balance = balance + 1000000 WHERE account_id = 1",
            "InsufficientPrivilege",
            "permission denied for table accounts",
            role="notebook",
        ),
        _r(
            "... cannot switch the ledger's rules off",
            "disable the append-only trigger",
            "ALTER TABLE bank.transactions DISABLE TRIGGER transactions_append_only",
            "InsufficientPrivilege",
            "must be owner of table transactions",
            role="notebook",
        ),
        _r(
            "... nor replace the audit",
            "CREATE OR REPLACE bank.ledger_breaks() with one that finds nothing",
            "CREATE OR REPLACE FUNCTION bank.ledger_breaks() RETURNS TABLE (check_name text, id bigint,"
            " detail text) LANGUAGE sql AS 'SELECT NULL::text, NULL::bigint, NULL::text WHERE false'",
            "InsufficientPrivilege",
            "permission denied for schema bank",
            role="notebook",
        ),
        _r(
            "... nor set the clock",
            "bank.set_course_clock('2020-01-01') as the notebooks' role",
            "SELECT bank.set_course_clock('2020-01-01 00:00+00')",
            "InsufficientPrivilege",
            "permission denied for function set_course_clock",
            role="notebook",
        ),
        _r(
            "... nor become the owner",
            "SET ROLE bank_owner",
            "SET ROLE bank_owner",
            "InsufficientPrivilege",
            "permission denied to set role",
            role="notebook",
        ),
        _r(
            "... nor make itself the owner",
            "GRANT bank_owner TO the notebooks' role",
            "GRANT bank_owner TO CURRENT_USER",
            "InsufficientPrivilege",
            "permission denied to grant role",
            role="notebook",
        ),
        _r(
            "... nor take over the application's login",
            "ALTER ROLE bank_app PASSWORD",
            "ALTER ROLE bank_app PASSWORD 'mine now'",
            "InsufficientPrivilege",
            "permission denied to alter role",
            role="notebook",
        ),
    ),
]


def try_rule(engine: sa.Engine, rule: Rule) -> DBAPIError | None:
    """Run ``rule``'s attempt as its role; return the database's error (None if not refused).

    ``engine`` is the notebooks' connection (role ``notebook``); ``owner`` and ``app`` attempts
    go through :func:`.ddl.owner_engine` and :func:`.ddl.app_engine`.
    """
    target = {"owner": owner_engine, "app": app_engine, "notebook": lambda e: e}[rule.role](engine)
    with target.connect() as conn:
        transaction = conn.begin()
        try:
            for statement in rule.sql:
                conn.execute(sa.text(statement))
            if rule.commit:
                transaction.commit()  # the deferred check runs here
            else:
                transaction.rollback()
        except DBAPIError as exc:
            if not isinstance(exc.orig, psycopg2.Error):
                raise
            if transaction.is_active:
                transaction.rollback()
            return exc
    return None


def demonstrate(engine: sa.Engine, section: str | None = None) -> pd.DataFrame:
    """Every rule (of ``section``) attempted, with the database's answer: one row per rule."""
    rows = []
    role_names = {"owner": OWNER_ROLE, "app": APP_ROLE, "notebook": notebook_role(engine)}
    for rule in RULES:
        if section is not None and rule.section != section:
            continue
        exc = try_rule(engine, rule)
        refusal = Refusal.of(exc) if exc is not None else Refusal("", "accepted!", "")
        rows.append(
            {
                "section": rule.section,
                "rule": rule.name,
                "attempt": rule.attempt,
                "as": role_names[rule.role],
                "refused with": refusal.error,
                "constraint or trigger": refusal.constraint,
                "the database says": refusal.message,
            }
        )
    return pd.DataFrame(rows).drop(columns="section").set_index("rule")


def privileges(engine: sa.Engine, role: str = APP_ROLE) -> pd.DataFrame:
    """What ``role`` may do on each table, view and function of the bank, as the catalog says
    (``select`` names the columns it may not read, when it may read only some)."""
    tables = db.read_frame(
        """
        SELECT * FROM (
        SELECT c.relname AS object, CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END AS type,
               CASE WHEN has_table_privilege(:role, c.oid, 'SELECT') THEN 'yes'
                    WHEN has_any_column_privilege(:role, c.oid, 'SELECT') THEN 'all but ' ||
                         (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a
                          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                            AND NOT has_column_privilege(:role, c.oid, a.attnum, 'SELECT'))
                    ELSE 'no' END AS "select",
               has_table_privilege(:role, c.oid, 'INSERT') AS "insert",
               has_table_privilege(:role, c.oid, 'UPDATE') AS "update",
               has_table_privilege(:role, c.oid, 'DELETE') AS "delete",
               has_table_privilege(:role, c.oid, 'TRUNCATE') AS "truncate", NULL::boolean AS "execute"
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bank' AND c.relkind IN ('r', 'v')
        UNION ALL
        SELECT p.proname || '()', 'function', NULL, NULL, NULL, NULL, NULL,
               has_function_privilege(:role, p.oid, 'EXECUTE')
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'bank') p
        ORDER BY array_position(ARRAY['table', 'view', 'function'], type), object""",
        {"role": role},
        engine=engine,
        index_col="object",
    )
    return tables.astype(object).where(tables.notna(), "")


# --- where the rules live -------------------------------------------------------------

_KINDS_SQL = """
SELECT c.relname AS "table",
       CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key' WHEN 'u' THEN 'unique'
            WHEN 'c' THEN 'check' WHEN 'n' THEN 'not null' ELSE 'exclusion' END AS kind,
       count(*) AS rules
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind = 'r' GROUP BY 1, 2
UNION ALL
SELECT c.relname, 'unique index', count(*)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND i.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
GROUP BY 1
UNION ALL
SELECT c.relname, 'trigger', count(*)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND NOT t.tgisinternal GROUP BY 1
ORDER BY 1, 2
"""


def rule_kinds(engine: sa.Engine, schema: str = "bank") -> pd.DataFrame:
    """Every rule the database holds for ``schema``'s tables, counted by table and kind
    (constraints, unique indexes that are no constraint, triggers), read from the catalog."""
    frame = db.read_frame(_KINDS_SQL, {"schema": schema}, engine=engine)
    frame["rules"] = frame["rules"].astype(int)
    return frame


def plot_rule_kinds(engine: sa.Engine, schema: str = "bank") -> None:
    """:func:`rule_kinds` as grouped bars, one group per table: NOT NULL (on most columns) left
    out, unique constraints and unique indexes counted together."""
    from .. import viz

    kinds = rule_kinds(engine, schema)
    kinds = kinds[kinds["kind"] != "not null"].replace({"kind": {"unique index": "unique"}})
    viz.bars(
        kinds.groupby(["table", "kind"], as_index=False)["rules"].sum(),
        x="table",
        y="rules",
        by="kind",
        title=f"Rules the database enforces on the {schema} schema's tables (NOT NULL aside)",
        ylabel="rules",
        figsize=(10, 3.6),
    )
