"""Every rule of the bank, broken on purpose, and the database's refusal.

:data:`RULES` lists one attempt per rule: the SQL that breaks it, the role that tries
(``owner`` — the application role that owns the schema — or ``app``, the least-privilege
``bank_app``), and the refusal expected (psycopg2 error class and a message fragment).
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
from .ddl import APP_ROLE, app_engine
from .ops import Refusal, clock

# Rows the attempts start from (deterministic for a given population).
FIRST_FREE_ACCOUNT = ("(SELECT a.account_id FROM bank.accounts a JOIN bank.customers c USING (customer_id)"
                      " WHERE c.min_balance = 0 ORDER BY a.account_id LIMIT 1)")
NEW_CUSTOMER = ("INSERT INTO bank.customers (first_name, last_name, email, national_id, date_of_birth,"
                " home_branch_id, joined_on, min_balance) VALUES ")
NEW_EMPLOYEE = ("INSERT INTO bank.employees (branch_id, first_name, last_name, email, role, hired_on)"
                " VALUES ")
NEW_LEDGER_ROW = ("INSERT INTO bank.transactions (account_id, kind, amount, balance_after, booked_at,"
                  " counterpart_id) ")


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str                  # the business rule, in words
    attempt: str               # what we try, in words
    sql: tuple[str, ...]       # statements run in one transaction
    error: str                 # the psycopg2.errors class expected
    fragment: str              # part of the server's message (or constraint name) expected
    role: str = "owner"        # "owner" or "app"
    commit: bool = False       # the rule is checked at COMMIT (deferred)
    section: str = ""          # customers, accounts, cards and loans, ...


def _r(name, attempt, sql, error, fragment, **kw) -> Rule:
    return Rule(name, attempt, (sql,) if isinstance(sql, str) else tuple(sql), error, fragment, **kw)


def _section(name: str, *rules: Rule) -> list[Rule]:
    return [dataclasses.replace(rule, section=name) for rule in rules]


RULES: list[Rule] = [
    *_section("customers",
        _r("customer e-mail is unique, whatever its case", "a new customer with customer 1's e-mail, capitalised",
           NEW_CUSTOMER[:-8] + " SELECT 'Ann', 'Other', upper(left(email, 1)) || substr(email, 2),"
           " '999-99-9990', '1980-01-01', 1, '2020-01-01', 0 FROM bank.customers ORDER BY customer_id LIMIT 1",
           "UniqueViolation", "customers_email_key"),
        _r("customer e-mail is well-formed", "e-mail 'ann.other'",
           NEW_CUSTOMER + "('Ann', 'Other', 'ann.other', '999-99-9991', '1980-01-01', 1, '2020-01-01', 0)",
           "CheckViolation", "customers_email_format"),
        _r("national id is unique", "a new customer with customer 1's national id",
           NEW_CUSTOMER[:-8] + " SELECT 'Ann', 'Other', 'ann@other.example', national_id, '1980-01-01', 1,"
           " '2020-01-01', 0 FROM bank.customers ORDER BY customer_id LIMIT 1",
           "UniqueViolation", "customers_national_id_key"),
        _r("a customer has a last name (NOT NULL)", "last_name NULL",
           NEW_CUSTOMER + "('Ann', NULL, 'ann@other.example', '999-99-9992', '1980-01-01', 1, '2020-01-01', 0)",
           "NotNullViolation", "last_name"),
        _r("customers are adults when they join", "born 2015, joined 2020",
           NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999-99-9993', '2015-01-01', 1, '2020-01-01', 0)",
           "CheckViolation", "customers_adult_check"),
        _r("a customer's minimum balance is not negative", "min_balance -1.00",
           NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999-99-9994', '1980-01-01', 1, '2020-01-01', -1)",
           "CheckViolation", "customers_min_balance_check"),
        _r("a customer's home branch exists", "home branch 9999",
           NEW_CUSTOMER + "('Ann', 'Other', 'ann@other.example', '999-99-9995', '1980-01-01', 9999, '2020-01-01', 0)",
           "ForeignKeyViolation", "customers_branch_fk"),
        _r("a minimum cannot be raised above a balance", "customer 1's minimum set 1 cent above their richest account",
           "UPDATE bank.customers SET min_balance = (SELECT max(balance) + 0.01 FROM bank.accounts"
           " WHERE customer_id = 1) WHERE customer_id = 1",
           "CheckViolation", "is above the balance"),
    ),
    *_section("accounts",
        _r("an account belongs to an existing customer", "an account for customer 999999",
           "INSERT INTO bank.accounts (account_number, customer_id, branch_id, kind, opened_on)"
           " VALUES ('AC0000000001', 999999, 1, 'checking', '2025-01-01')",
           "ForeignKeyViolation", "accounts_customer_fk"),
        _r("account numbers are unique", "a second account with account 1's number",
           "INSERT INTO bank.accounts (account_number, customer_id, branch_id, kind, opened_on)"
           " SELECT account_number, customer_id, branch_id, 'savings', opened_on FROM bank.accounts"
           " ORDER BY account_id LIMIT 1",
           "UniqueViolation", "accounts_number_key"),
        _r("an account is checking or savings", "kind 'crypto'",
           "INSERT INTO bank.accounts (account_number, customer_id, branch_id, kind, opened_on)"
           " VALUES ('AC0000000002', 1, 1, 'crypto', '2025-01-01')",
           "CheckViolation", "accounts_kind_check"),
        _r("a balance never drops below the customer's minimum", "withdraw 1 cent more than account 1's headroom",
           "SELECT bank.withdraw(a.account_id, a.balance - c.min_balance + 0.01, :at) FROM bank.accounts a"
           " JOIN bank.customers c USING (customer_id) ORDER BY a.account_id LIMIT 1",
           "CheckViolation", "below the minimum", role="app"),
        _r("... nor through a transfer", "transfer 1 cent more than account 1's headroom to account 2",
           "SELECT bank.transfer(a.account_id, a.account_id + 1, a.balance - c.min_balance + 0.01, :at)"
           " FROM bank.accounts a JOIN bank.customers c USING (customer_id) ORDER BY a.account_id LIMIT 1",
           "CheckViolation", "below the minimum", role="app"),
    ),
    *_section("cards and loans",
        _r("a card's account belongs to the card's customer", "a card for customer 1 on another customer's account",
           "INSERT INTO bank.cards (card_number, customer_id, account_id, kind, issued_on, expires_on)"
           " SELECT '4111111111111111', 1, account_id, 'debit', '2025-01-01', '2029-01-01' FROM bank.accounts"
           " WHERE customer_id <> 1 ORDER BY account_id LIMIT 1",
           "ForeignKeyViolation", "cards_account_owner_fk"),
        _r("card numbers pass the Luhn check", "card number 4111111111111112",
           "INSERT INTO bank.cards (card_number, customer_id, account_id, kind, issued_on, expires_on)"
           " SELECT '4111111111111112', customer_id, account_id, 'debit', '2025-01-01', '2029-01-01'"
           " FROM bank.accounts ORDER BY account_id LIMIT 1",
           "CheckViolation", "cards_number_luhn"),
        _r("a card expires after it is issued", "expires 2024-01-01, issued 2025-01-01",
           "INSERT INTO bank.cards (card_number, customer_id, account_id, kind, issued_on, expires_on)"
           " SELECT '4111111111111111', customer_id, account_id, 'debit', '2025-01-01', '2024-01-01'"
           " FROM bank.accounts ORDER BY account_id LIMIT 1",
           "CheckViolation", "cards_expiry_check"),
        _r("a loan's principal is positive", "principal 0",
           "INSERT INTO bank.loans (customer_id, account_id, officer_id, principal, annual_rate, term_months,"
           " start_date, outstanding) SELECT customer_id, account_id, 1, 0, 0.05, 12, '2025-01-01', 0"
           " FROM bank.accounts ORDER BY account_id LIMIT 1",
           "CheckViolation", "loans_principal_check"),
        _r("a loan is repaid from the borrower's own account", "a loan for customer 1 on another customer's account",
           "INSERT INTO bank.loans (customer_id, account_id, officer_id, principal, annual_rate, term_months,"
           " start_date, outstanding) SELECT 1, account_id, 1, 1000, 0.05, 12, '2025-01-01', 1000"
           " FROM bank.accounts WHERE customer_id <> 1 ORDER BY account_id LIMIT 1",
           "ForeignKeyViolation", "loans_account_owner_fk"),
        _r("nobody repays more than they owe", "pay 1.00 more than the smallest outstanding loan",
           "SELECT bank.pay_loan(loan_id, outstanding + 1, :at) FROM bank.loans WHERE outstanding > 0"
           " ORDER BY outstanding, loan_id LIMIT 1",
           "CheckViolation", "loans_outstanding_check", role="app"),
    ),
    *_section("branches and staff",
        _r("a branch has at most one manager", "a second manager for branch 1",
           NEW_EMPLOYEE + "(1, 'Max', 'Other', 'max@staff.bank.example', 'manager', '2025-01-01')",
           "UniqueViolation", "employees_one_manager_per_branch"),
        _r("an employee works at an existing branch", "an employee at branch 9999",
           NEW_EMPLOYEE + "(9999, 'Max', 'Other', 'max@staff.bank.example', 'teller', '2025-01-01')",
           "ForeignKeyViolation", "employees_branch_fk"),
        _r("branch codes are unique", "a second branch BR001",
           "INSERT INTO bank.branches (code, name, city, opened_on) VALUES ('BR001', 'Copy', 'Copy', '2025-01-01')",
           "UniqueViolation", "branches_code_key"),
    ),
    *_section("the ledger",
        _r("the ledger is append-only (no edits)", "double the amount of transaction 1",
           "UPDATE bank.transactions SET amount = amount * 2 WHERE transaction_id = 1",
           "RestrictViolation", "cannot be changed or deleted"),
        _r("the ledger is append-only (no deletes)", "delete transaction 1",
           "DELETE FROM bank.transactions WHERE transaction_id = 1",
           "RestrictViolation", "cannot be changed or deleted"),
        _r("each ledger row continues its account's chain", "book 10.00 on account 1 with a made-up balance_after",
           NEW_LEDGER_ROW + "VALUES (1, 'deposit', 10, 1000000, :at, NULL)",
           "CheckViolation", "balance_after"),
        _r("a deposit's amount is positive", "a deposit row of -10.00",
           NEW_LEDGER_ROW + "VALUES (1, 'deposit', -10, 0, :at, NULL)",
           "CheckViolation", "transactions_amount_sign"),
        _r("a transfer's credit points at its debit", "a transfer_in row without counterpart",
           NEW_LEDGER_ROW + "VALUES (1, 'transfer_in', 10, 0, :at, NULL)",
           "CheckViolation", "transactions_counterpart_check"),
        _r("every balance is explained by the ledger (at COMMIT)", "add 1 000.00 to account 1's balance directly",
           "UPDATE bank.accounts SET balance = balance + 1000 WHERE account_id = 1",
           "CheckViolation", "not explained by its ledger", commit=True),
    ),
    *_section("operations",
        _r("amounts are positive", "deposit -5.00",
           f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, -5, :at)", "InvalidParameterValue", "must be positive",
           role="app"),
        _r("amounts are whole cents", "deposit 10.005",
           f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 10.005, :at)", "InvalidParameterValue",
           "fractions of a cent", role="app"),
        _r("no transfer to the same account", "transfer 10.00 from account 1 to account 1",
           "SELECT bank.transfer(1, 1, 10, :at)", "InvalidParameterValue", "to itself", role="app"),
        _r("operations need an existing account", "deposit into account 999999999",
           "SELECT bank.deposit(999999999, 10, :at)", "NoDataFound", "no account with id", role="app"),
        _r("a closed account takes no money", "close account 1, then deposit into it",
           ("UPDATE bank.accounts SET closed_on = opened_on WHERE account_id = 1",
            "SELECT bank.deposit(1, 10, :at)"),
           "ObjectNotInPrerequisiteState", "is closed"),
        _r("a request id is booked once", "reuse reference 'req-1' for a different deposit",
           (f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 10, :at, 'req-1')",
            f"SELECT bank.deposit({FIRST_FREE_ACCOUNT}, 20, :at, 'req-1')"),
           "UniqueViolation", "already used", role="app"),
    ),
    *_section("least privilege",
        _r("the application cannot set balances", "UPDATE accounts as bank_app",
           "UPDATE bank.accounts SET balance = balance + 1000000 WHERE account_id = 1",
           "InsufficientPrivilege", "permission denied for table accounts", role="app"),
        _r("the application cannot write the ledger", "INSERT a ledger row as bank_app",
           NEW_LEDGER_ROW + "VALUES (1, 'deposit', 10, 0, :at, NULL)",
           "InsufficientPrivilege", "permission denied for table transactions", role="app"),
        _r("the application cannot lower a floor", "UPDATE customers' minimum as bank_app",
           "UPDATE bank.customers SET min_balance = 0 WHERE customer_id = 1",
           "InsufficientPrivilege", "permission denied for table customers", role="app"),
        _r("the application cannot call internals", "bank._post(...) as bank_app",
           "SELECT bank._post(1, 1000000, 'deposit', :at, NULL, NULL, NULL)",
           "InsufficientPrivilege", "permission denied for function _post", role="app"),
    ),
]


def try_rule(engine: sa.Engine, rule: Rule, as_of: str) -> DBAPIError | None:
    """Run ``rule``'s attempt; return the database's error (None if it was not refused)."""
    target = app_engine(engine) if rule.role == "app" else engine
    params = {"at": clock(as_of, hour=12)}
    with target.connect() as conn:
        transaction = conn.begin()
        try:
            for statement in rule.sql:
                conn.execute(sa.text(statement), params)
            if rule.commit:
                transaction.commit()   # the deferred check runs here
            else:
                transaction.rollback()
        except DBAPIError as exc:
            if not isinstance(exc.orig, psycopg2.Error):
                raise
            if transaction.is_active:
                transaction.rollback()
            return exc
    return None


def demonstrate(engine: sa.Engine, as_of: str, section: str | None = None) -> pd.DataFrame:
    """Every rule (of ``section``) attempted, with the database's answer: one row per rule."""
    rows = []
    for rule in RULES:
        if section is not None and rule.section != section:
            continue
        exc = try_rule(engine, rule, as_of)
        refusal = Refusal.of(exc) if exc is not None else Refusal("", "accepted!", "")
        rows.append({"section": rule.section, "rule": rule.name, "attempt": rule.attempt,
                     "as": "bank_app" if rule.role == "app" else "owner",
                     "refused with": refusal.error, "the database says": refusal.message})
    return pd.DataFrame(rows).drop(columns="section").set_index("rule")


def privileges(engine: sa.Engine, role: str = APP_ROLE) -> pd.DataFrame:
    """What ``role`` may do on each table and operation, as the catalog says."""
    tables = db.read_frame("""
        SELECT c.relname AS object, 'table' AS type,
               has_table_privilege(:role, c.oid, 'SELECT') AS "select",
               has_table_privilege(:role, c.oid, 'INSERT') AS "insert",
               has_table_privilege(:role, c.oid, 'UPDATE') AS "update",
               has_table_privilege(:role, c.oid, 'DELETE') AS "delete",
               has_table_privilege(:role, c.oid, 'TRUNCATE') AS "truncate", NULL::boolean AS "execute"
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bank' AND c.relkind = 'r'
        UNION ALL
        SELECT p.proname || '()', 'function', NULL, NULL, NULL, NULL, NULL,
               has_function_privilege(:role, p.oid, 'EXECUTE')
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'bank'
        ORDER BY 2 DESC, 1""", {"role": role}, engine=engine, index_col="object")
    return tables.astype(object).where(tables.notna(), "")
