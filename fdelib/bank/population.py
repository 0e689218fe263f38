"""A seeded, realistic bank: branches, staff, customers, accounts, cards, loans and a ledger.

:func:`generate` builds every table as a DataFrame (pure: same ``seed`` and ``as_of``,
same rows). Names come from Faker pools; everything else is vectorised numpy, so 100 000
customers take seconds. Money is computed in integer cents and only rendered as decimals.

The ledger is a real history, not decoration: each account opens with a deposit, then
``weeks`` weekly rounds of salary deposits, withdrawals, transfers between accounts and
monthly loan repayments follow. In a round an account spends at most 40 % of its headroom
above the customer's minimum, so the rows satisfy every rule in whatever order they land;
balances and loans' outstanding amounts are the sums of their rows.

:func:`populate` resets the bank's data (TRUNCATE ... RESTART IDENTITY) and loads those
frames with COPY in **one transaction**, so a notebook sees the same bank on a fresh
database and on one where it ran before. The database re-checks every rule on the way in.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import db, params
from ..errors import FdeError
from . import clock
from .ddl import TABLES, BankIntegrityWarning, owner_engine, setup

DAY = np.timedelta64(1, "D")
SECOND = np.timedelta64(1, "s")
MIN_BALANCES = np.array([0, 0, 0, 100_00, 250_00, 500_00, 1_000_00])  # cents
ROLES_PER_BRANCH = {"teller": 250, "advisor": 400, "loan officer": 600}  # customers per head


@dataclasses.dataclass
class Bank:
    """The generated tables, in load order (parents before children)."""

    branches: pd.DataFrame
    employees: pd.DataFrame
    customers: pd.DataFrame
    accounts: pd.DataFrame
    cards: pd.DataFrame
    loans: pd.DataFrame
    transactions: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}

    def rows(self) -> int:
        return sum(len(f) for f in self.frames().values())


#: 02_bank_db/01_model's parameters (fdelib.params rules, checked at the notebook's top).
MODEL_PARAMETERS = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "customers": params.Integer(10, 10_000, why="a bank to look at the model; 02_populate_query goes larger"),
}

#: 02_bank_db/02_populate_query's parameters.
POPULATE_PARAMETERS = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "customers": params.Integer(100, 100_000),
    "weeks": params.Integer(1, 104, why="weeks of history before as_of"),
    "operations": params.Integer(1, 10_000, why="requests of the business day"),
}


def history_start(as_of: str, weeks: int) -> np.datetime64:
    """First day of the generated activity: ``weeks`` weeks before ``as_of``."""
    start: np.datetime64 = np.datetime64(str(pd.Timestamp(as_of).date()), "D") - np.timedelta64(7 * weeks, "D")
    return start


def money(cents: np.ndarray) -> np.ndarray:
    """Integer cents as floats whose shortest repr is the exact decimal (12345 -> 123.45)."""
    return np.asarray(cents, dtype=np.int64) / 100


def _dates(values) -> np.ndarray:
    """Calendar dates as ISO strings (what COPY reads into a ``date`` column)."""
    return np.asarray(values).astype("datetime64[D]").astype(str)


def _pool(fake, method: str, size: int) -> np.ndarray:
    values = [getattr(fake, method)() for _ in range(size * 3)]
    return np.array(list(dict.fromkeys(values))[:size])


def _scramble(ids: np.ndarray, modulus: int, seed: int) -> np.ndarray:
    """A seed-dependent bijection of ids onto [0, modulus): unique natural keys for free."""
    multiplier = 7_919 * 104_729  # coprime with powers of ten
    return ((ids + (seed % 1_000) * 1_000_003) * multiplier) % modulus


def _slug(names) -> pd.Series:
    """Names as e-mail address parts: lower case letters only."""
    return pd.Series(np.asarray(names)).str.lower().str.replace(r"[^a-z]", "", regex=True)


def _luhn_digit(body: np.ndarray) -> np.ndarray:
    """Check digits for an array of digit strings (all the same length)."""
    digits = np.array([list(b) for b in body], dtype=np.int64)[:, ::-1]
    doubled = digits[:, 0::2] * 2
    total = np.where(doubled > 9, doubled - 9, doubled).sum(axis=1) + digits[:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


def _branches(rng, fake, as_of: np.datetime64, customers: int) -> pd.DataFrame:
    count = int(np.clip(round(math.sqrt(customers) / 4), 3, 60))
    cities = _pool(fake, "city", count)
    ids = np.arange(1, count + 1)
    return pd.DataFrame(
        {
            "branch_id": ids,
            "code": [f"BR{i:03d}" for i in ids],
            "name": [f"{c} branch" for c in cities],
            "city": cities,
            "opened_on": _dates(as_of - rng.integers(5 * 365, 40 * 365, count) * DAY),
        }
    )


def _customers(rng, fake, seed: int, start: np.datetime64, count: int, branch_weights: np.ndarray) -> pd.DataFrame:
    ids = np.arange(1, count + 1)
    first, last = _pool(fake, "first_name", 400), _pool(fake, "last_name", 600)
    domains = _pool(fake, "free_email_domain", 12)
    given, family = first[rng.integers(0, len(first), count)], last[rng.integers(0, len(last), count)]
    local = _slug(given) + "." + _slug(family) + "." + pd.Series(ids).astype(str)
    national = _scramble(ids, 1_000_000_000, seed)
    national_s = pd.Series(national).astype(str).str.zfill(9)
    joined = start - rng.integers(30, 15 * 365, count) * DAY
    born = joined - (18 * 365 + 5 + rng.integers(0, 50 * 365, count)) * DAY
    phone = pd.Series(_scramble(ids, 10_000_000, seed + 1)).astype(str).str.zfill(7)
    phone = ("+1-555-" + phone.str[:3] + "-" + phone.str[3:]).where(rng.random(count) < 0.8)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "first_name": given,
            "last_name": family,
            "email": local + "@" + domains[rng.integers(0, len(domains), count)],
            "national_id": national_s.str[:3] + "-" + national_s.str[3:5] + "-" + national_s.str[5:],
            "phone": phone,
            "date_of_birth": _dates(born),
            "home_branch_id": rng.choice(len(branch_weights), count, p=branch_weights) + 1,
            "min_balance_cents": MIN_BALANCES[rng.integers(0, len(MIN_BALANCES), count)],
            "joined_on": joined,
        }
    )


def _employees(rng, fake, as_of: np.datetime64, customers: pd.DataFrame, branches: pd.DataFrame) -> pd.DataFrame:
    served = customers["home_branch_id"].value_counts().reindex(branches["branch_id"], fill_value=0)
    rows = []
    for branch_id, clients in served.items():
        rows.append((branch_id, "manager"))
        for role, per_head in ROLES_PER_BRANCH.items():
            rows += [(branch_id, role)] * (1 + int(clients // per_head) + int(rng.integers(0, 2)))
    frame = pd.DataFrame(rows, columns=["branch_id", "role"])
    count = len(frame)
    ids = np.arange(1, count + 1)
    first, last = _pool(fake, "first_name", 200), _pool(fake, "last_name", 300)
    frame.insert(0, "employee_id", ids)
    frame["first_name"] = first[rng.integers(0, len(first), count)]
    frame["last_name"] = last[rng.integers(0, len(last), count)]
    frame["email"] = (
        _slug(frame["first_name"])
        + "."
        + _slug(frame["last_name"])
        + "."
        + pd.Series(ids).astype(str)
        + "@staff.bank.example"
    )
    frame["hired_on"] = _dates(as_of - rng.integers(30, 25 * 365, count) * DAY)
    return frame


def _accounts(rng, seed: int, start: np.datetime64, customers: pd.DataFrame, branch_count: int) -> pd.DataFrame:
    n = len(customers)
    extra_savings = rng.random(n) < 0.45
    extra_checking = rng.random(n) < 0.10
    owner = np.concatenate([np.arange(n), np.flatnonzero(extra_savings), np.flatnonzero(extra_checking)])
    kind = np.array(
        ["checking"] * n + ["savings"] * int(extra_savings.sum()) + ["checking"] * int(extra_checking.sum())
    )
    order = np.lexsort((np.arange(len(owner)), owner))  # a customer's accounts side by side
    owner, kind = owner[order], kind[order]
    count = len(owner)
    ids = np.arange(1, count + 1)
    joined = customers["joined_on"].to_numpy()[owner]
    span = ((start - DAY - joined) / DAY).astype(np.int64)
    home = customers["home_branch_id"].to_numpy()[owner]
    branch = np.where(rng.random(count) < 0.9, home, rng.integers(1, branch_count + 1, count))
    return pd.DataFrame(
        {
            "account_id": ids,
            "account_number": "AC" + pd.Series(_scramble(ids, 10**10, seed)).astype(str).str.zfill(10),
            "customer_id": owner + 1,
            "branch_id": branch,
            "kind": kind,
            "opened_on": joined + (rng.random(count) * span).astype(np.int64) * DAY,
        }
    )


def _cards(rng, seed: int, as_of: np.datetime64, accounts: pd.DataFrame) -> pd.DataFrame:
    checking = accounts[accounts["kind"] == "checking"]
    debit = checking[rng.random(len(checking)) < 0.9]
    credit = checking[rng.random(len(checking)) < 0.25]
    cards = pd.concat([debit.assign(card_kind="debit"), credit.assign(card_kind="credit")])
    cards = cards.sort_values(["account_id", "card_kind"], kind="stable")
    count = len(cards)
    ids = np.arange(1, count + 1)
    body = "4" + pd.Series(_scramble(ids, 10**14, seed)).astype(str).str.zfill(14)
    opened = cards["opened_on"].to_numpy().astype("datetime64[D]")
    span = np.maximum(((as_of - opened) / DAY).astype(np.int64), 1)
    issued = (
        np.maximum(opened, as_of - 3 * 365 * DAY) + (rng.random(count) * np.minimum(span, 365)).astype(np.int64) * DAY
    )
    issued = np.minimum(issued, as_of)
    return pd.DataFrame(
        {
            "card_id": ids,
            "card_number": body + pd.Series(_luhn_digit(body.to_numpy())).astype(str),
            "customer_id": cards["customer_id"].to_numpy(),
            "account_id": cards["account_id"].to_numpy(),
            "kind": cards["card_kind"].to_numpy(),
            "issued_on": _dates(issued),
            "expires_on": _dates(issued + 4 * 365 * DAY),
        }
    )


def _loans(rng, start: np.datetime64, accounts: pd.DataFrame, employees: pd.DataFrame) -> pd.DataFrame:
    first_checking = accounts[accounts["kind"] == "checking"].drop_duplicates("customer_id")
    borrowers = first_checking[rng.random(len(first_checking)) < 0.22]
    count = len(borrowers)
    officers = employees[employees["role"] == "loan officer"].groupby("branch_id")["employee_id"]
    by_branch = {b: ids.to_numpy() for b, ids in officers}
    officer = [by_branch[b][rng.integers(0, len(by_branch[b]))] for b in borrowers["branch_id"]]
    principal = np.round(np.exp(rng.normal(10.2, 1.0, count)).clip(2_000, 750_000), -2)
    return pd.DataFrame(
        {
            "loan_id": np.arange(1, count + 1),
            "customer_id": borrowers["customer_id"].to_numpy(),
            "account_id": borrowers["account_id"].to_numpy(),
            "officer_id": np.array(officer, dtype=np.int64),
            "principal_cents": (principal * 100).astype(np.int64),
            "annual_rate": np.round(rng.uniform(0.03, 0.11, count), 4),
            "term_months": rng.choice([12, 24, 36, 60, 120, 240, 360], count),
            "start_date": _dates(start - rng.integers(1, 29, count) * DAY),
        }
    )


def _events(
    rng, start: np.datetime64, weeks: int, accounts: pd.DataFrame, customers: pd.DataFrame, loans: pd.DataFrame
) -> pd.DataFrame:
    """The ledger's rows in booking order, with amounts in cents (see the module doc)."""
    n = len(accounts)
    minimum = customers["min_balance_cents"].to_numpy()[accounts["customer_id"].to_numpy() - 1]
    balance = minimum + rng.integers(100_00, 8_000_00, n)
    opened_at = (
        accounts["opened_on"].to_numpy().astype("datetime64[D]").astype("datetime64[s]")
        + (9 * 3600 + rng.integers(0, 8 * 3600, n)) * SECOND
    )
    parts = [
        pd.DataFrame(
            {
                "account_id": accounts["account_id"].to_numpy(),
                "kind": "opening",
                "cents": balance.copy(),
                "booked_at": opened_at,
                "pair": -1,
                "loan_id": 0,
            }
        )
    ]
    loan_of = np.zeros(n, dtype=np.int64)
    loan_of[loans["account_id"].to_numpy() - 1] = loans["loan_id"].to_numpy()
    principal = np.zeros(n, dtype=np.int64)
    principal[loans["account_id"].to_numpy() - 1] = loans["principal_cents"].to_numpy()
    term = np.ones(n, dtype=np.int64)
    term[loans["account_id"].to_numpy() - 1] = loans["term_months"].to_numpy()
    outstanding = principal.copy()
    is_checking = (accounts["kind"] == "checking").to_numpy()
    pair_base = 0
    for week in range(weeks):
        day = start + (7 * week + int(rng.integers(0, 5))) * DAY
        at = day.astype("datetime64[s]") + (9 * 3600 + rng.integers(0, 8 * 3600, n)) * SECOND
        headroom = balance - minimum
        inflow = np.where(
            rng.random(n) < np.where(is_checking, 0.35, 0.12),
            np.round(np.exp(rng.normal(11.1, 0.7, n))).astype(np.int64),
            0,
        )
        due = (loan_of > 0) & (week % 4 == loan_of % 4) & (outstanding > 0)
        installment = np.minimum(outstanding, -(-principal // term))
        pays = due & (installment <= headroom * 4 // 10)
        share = (rng.uniform(0.05, 0.4, n) * headroom).astype(np.int64)
        choice = rng.random(n)
        withdraws = ~pays & (choice < 0.30) & (share >= 100)
        sends = ~pays & ~withdraws & (choice < 0.50) & (share >= 100)
        senders = np.flatnonzero(sends)
        receivers = (senders + rng.integers(1, n, len(senders))) % n if n > 1 else senders[:0]
        senders = senders[: len(receivers)]
        received = np.bincount(receivers, weights=share[senders], minlength=n).astype(np.int64)
        pairs = pair_base + np.arange(len(senders))
        pair_base += len(senders)
        ids = accounts["account_id"].to_numpy()
        parts += [
            _rows(ids, inflow > 0, "deposit", inflow, at),
            _rows(ids, pays, "loan_payment", -installment, at, loan=loan_of),
            _rows(ids, withdraws, "withdrawal", -share, at),
            pd.DataFrame(
                {
                    "account_id": ids[senders],
                    "kind": "transfer_out",
                    "cents": -share[senders],
                    "booked_at": at[senders],
                    "pair": pairs,
                    "loan_id": 0,
                }
            ),
            pd.DataFrame(
                {
                    "account_id": ids[receivers],
                    "kind": "transfer_in",
                    "cents": share[senders],
                    "booked_at": at[senders],
                    "pair": pairs,
                    "loan_id": 0,
                }
            ),
        ]
        outstanding -= np.where(pays, installment, 0)
        balance += inflow + received - np.where(pays, installment, 0) - np.where(withdraws | sends, share, 0)
    events = pd.concat(parts, ignore_index=True)
    # booking order: time, then debit before its credit, then the order rows were made
    kind_rank = (events["kind"] == "transfer_in").astype(int)
    events = events.assign(rank=kind_rank).sort_values(["booked_at", "pair", "rank"], kind="stable")
    return events.drop(columns="rank").reset_index(drop=True)


def _rows(ids, mask, kind, cents, at, loan=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ids[mask],
            "kind": kind,
            "cents": cents[mask],
            "booked_at": at[mask],
            "pair": -1,
            "loan_id": 0 if loan is None else loan[mask],
        }
    )


def _ledger(events: pd.DataFrame) -> pd.DataFrame:
    ids = np.arange(1, len(events) + 1)
    running = events.groupby("account_id")["cents"].cumsum().to_numpy()
    debit_of_pair = pd.Series(
        ids[events["kind"].to_numpy() == "transfer_out"],
        index=events.loc[events["kind"] == "transfer_out", "pair"].to_numpy(),
    )
    is_credit = events["kind"].to_numpy() == "transfer_in"
    counterpart = pd.array([pd.NA] * len(events), dtype="Int64")
    counterpart[is_credit] = debit_of_pair.reindex(events.loc[is_credit, "pair"].to_numpy()).to_numpy()
    loan = pd.array(events["loan_id"].to_numpy(), dtype="Int64")
    loan[loan == 0] = pd.NA
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "account_id": events["account_id"].to_numpy(),
            "kind": events["kind"].to_numpy(),
            "amount": money(events["cents"]),
            "balance_after": money(running),
            "booked_at": pd.to_datetime(events["booked_at"]).dt.tz_localize("UTC"),
            "counterpart_id": counterpart,
            "loan_id": loan,
        }
    )


def generate(customers: int = 2_000, seed: int = 42, as_of: str = "2026-01-02", weeks: int = 8) -> Bank:
    """Every table of a bank with ``customers`` customers and ``weeks`` weeks of history."""
    from faker import Faker

    if not 1 <= customers <= 1_000_000:
        raise FdeError(f"customers must be between 1 and 1 000 000, got {customers}")
    if not 0 <= weeks <= 104:
        raise FdeError(f"weeks must be between 0 and 104, got {weeks}")
    rng = np.random.default_rng(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    day = np.datetime64(pd.Timestamp(as_of).date(), "D")
    start = history_start(as_of, weeks)
    branches = _branches(rng, fake, day, customers)
    weights = rng.dirichlet(np.full(len(branches), 3.0))
    cust = _customers(rng, fake, seed, start, customers, weights)
    employees = _employees(rng, fake, day, cust, branches)
    accounts = _accounts(rng, seed, start, cust, len(branches))
    cards = _cards(rng, seed, day, accounts)
    loans = _loans(rng, start, accounts, employees)
    events = _events(rng, start, weeks, accounts, cust, loans)
    ledger = _ledger(events)
    final = events.groupby("account_id")["cents"].sum()
    paid = -events[events["kind"] == "loan_payment"].groupby("loan_id")["cents"].sum()
    accounts["balance"] = money(final.reindex(accounts["account_id"], fill_value=0).to_numpy())
    loans["principal"] = money(loans.pop("principal_cents"))
    loans["outstanding"] = loans["principal"] - money(paid.reindex(loans["loan_id"], fill_value=0).to_numpy())
    loans["outstanding"] = loans["outstanding"].round(2)
    cust["min_balance"] = money(cust.pop("min_balance_cents"))
    cust["joined_on"] = _dates(cust["joined_on"])
    accounts["opened_on"] = _dates(accounts["opened_on"])
    return Bank(branches, employees, cust, accounts, cards, loans, ledger)


def populate(
    engine: sa.Engine | None = None,
    *,
    customers: int = 2_000,
    seed: int = 42,
    as_of: str = "2026-01-02",
    weeks: int = 8,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Reset the bank to a generated one; return rows loaded per table.

    One transaction: TRUNCATE ... RESTART IDENTITY, COPY every table, move the id
    sequences past the loaded ids. Either the whole bank is replaced or nothing changes.
    Then the bank's course clock is set to ``as_of`` (:func:`.clock.course_time`): the
    history ends before it, and every booking made afterwards is stamped with it.
    ``progress=None`` shows a bar from 10 000 customers on.
    """
    engine = engine or db.get_engine()
    with warnings.catch_warnings():  # about data this call replaces
        warnings.simplefilter("ignore", BankIntegrityWarning)
        setup(engine)
    bank = generate(customers, seed, as_of, weeks)
    show = customers >= 10_000 if progress is None else progress
    owner = owner_engine(engine)  # the bank's data is its owner's to replace
    load(owner, bank, progress=show)
    with owner.begin() as conn:  # checks an upgrade left NOT VALID hold on the new data
        conn.exec_driver_sql("SELECT bank._validate_checks()")
    clock.set_course(engine, clock.course_time(as_of))  # today's bookings: as_of, when the bank opens
    return pd.DataFrame({"table": list(bank.frames()), "rows": [len(f) for f in bank.frames().values()]}).set_index(
        "table"
    )


def load(engine: sa.Engine, bank: Bank, *, progress: bool = False, chunk_rows: int = 100_000) -> None:
    """Replace the bank's data with ``bank`` in one transaction (COPY, then fix sequences).

    ``engine`` must be allowed to write the tables: :func:`populate` passes the owner's.
    """
    bar = _bar(bank.rows()) if progress else None
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE " + ", ".join(f"bank.{t}" for t in TABLES) + " RESTART IDENTITY")
        for table, frame in bank.frames().items():
            for begin in range(0, max(len(frame), 1), chunk_rows):
                chunk = frame.iloc[begin : begin + chunk_rows]
                db.copy_dataframe(chunk, table, schema="bank", connection=conn, progress=False)
                if bar is not None:
                    bar.update(len(chunk))
            key = frame.columns[0]
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('bank.{table}', '{key}'), "
                f"coalesce((SELECT max({key}) FROM bank.{table}), 0) + 1, false)"
            )
    if bar is not None:
        bar.close()


def _bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="loading the bank", unit="rows", unit_scale=True)
