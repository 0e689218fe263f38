"""01_workflows/05_sagas: which compensations run and in which order, a compensation step of
your own run through the saga with a fault, a choreographed saga's state rebuilt from its
events; concept checks on sagas and orchestration vs choreography."""

from __future__ import annotations

import dataclasses

from fdelib.practice import Case, Catalog, Wrong
from fdelib.practice.base import Exercise
from fdelib.practice.pykinds import FunctionCases

catalog = Catalog("01_workflows/05_sagas.ipynb")


@dataclasses.dataclass
class Compensation(Exercise):
    """A compensation ``fn(conn, price, quantity)`` checked by what it does in the saga: the
    orchestrated trade runs on freshly opened accounts with it in place of ``step``'s and the
    fault at ``fail_at``; every balance afterwards must be the opening one (nothing minted,
    nothing lost, nothing left reserved). The accounts are opened afresh after each run."""

    name: str = ""
    step: str = ""
    fail_at: str = "book_trade"  # the pivot: the compensatable steps before it are undone

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "saga-compensation"

    read = FunctionCases.read
    from_text = FunctionCases.from_text

    def behaviour(self, answer):
        from fdelib import db
        from fdelib.workflows import sagas

        return sagas.try_compensation(db.get_engine(), self.step, answer, fail_at=self.fail_at)

    def expected(self):
        from fdelib.workflows import sagas

        return self.behaviour(sagas.COMPENSATIONS[self.step])

    def difference(self, got, expected):
        if got == expected:
            return None
        if "error" in got:
            return f"The saga stopped when your compensation ran ({got['outcome']}): {got['error']}"
        if "error" in expected:  # (compared with a catalogued wrong answer that stops the saga)
            return f"The saga ended {got['outcome']}; this answer stops it ({expected['outcome']})."
        for account, columns in expected["accounts"].items():
            for column, value in columns.items():
                mine = got["accounts"][account][column]
                if mine != value:
                    return (
                        f"After the fault at {self.fail_at} and the compensations, the {account}'s "
                        f"{column} is {mine}; it should be {value}, as before the saga."
                    )
        return f"The saga ended {got['outcome']}, expected {expected['outcome']}."


catalog.value(
    "saga_compensation_order",
    name="compensations",
    answer=[],
    blank_hint="List the steps whose compensations run when `settle` fails, in the order they run, "
    'e.g. ["reserve_cash"] (or [] for none). Which steps were done before settle? Which of them '
    "can still be undone once the trade is booked?",
    wrong=[
        Wrong(
            'compensations = ["book_trade", "reserve_securities", "reserve_cash"]\n',
            "That would un-book a trade the buyer and the seller are already committed to. book_trade is "
            "the saga's pivot: before it, a failure is compensated; after it, the saga only goes forward. "
            "settle is a retriable step: the coordinator tries it again (and a seller who never delivers "
            "is bought in), it never undoes the booking.",
        ),
        Wrong(
            'compensations = ["reserve_securities", "reserve_cash"]\n',
            "Releasing the cash and the shares of a booked trade leaves a trade that can never settle. "
            "After the pivot (book_trade) nothing is compensated: settle is retried.",
        ),
        Wrong(
            'compensations = ["reserve_cash", "reserve_securities", "book_trade"]\n',
            "Even before the pivot, compensations run newest first — but here no compensation runs at all: "
            "settle comes after the pivot (book_trade), and a failed settlement is retried.",
        ),
    ],
    passed="None: book_trade is the pivot, and settle after it is retriable. The coordinator tries the "
    "settlement again the next business day (the step log shows T+2); a seller who never delivers is "
    "bought in. Only a failure up to the pivot is compensated.",
)

catalog.add(
    Compensation(
        id="saga_release_securities",
        notebook=catalog.notebook,
        name="release_securities",
        step="reserve_securities",
        blank='''from fdelib.workflows import sagas


def release_securities(conn, price, quantity):
    """Compensation of reserve_securities: give the seller's reserved shares back."""
    ...
''',
        blank_hint="Write the body: one sagas.move(conn, account, column=delta, ...) call that undoes what "
        "reserve_securities did — it moved `quantity` shares of the seller from `shares` to "
        "`shares_reserved`. Then run this check: it runs the whole saga with the fault at book_trade.",
        wrong=(
            Wrong(
                """from fdelib.workflows import sagas


def release_securities(conn, price, quantity):
    sagas.move(conn, "seller", shares=quantity)
""",
                "The seller has its shares back, but the reservation is still there: shares + shares_reserved "
                "is now 20 more than the seller owns — shares minted. Take them out of shares_reserved too.",
            ),
            Wrong(
                """from fdelib.workflows import sagas


def release_securities(conn, price, quantity):
    sagas.move(conn, "seller", shares_reserved=-quantity)
""",
                "The reservation is gone, but the shares did not go back: the seller lost them. Release moves "
                "them from shares_reserved back to shares.",
            ),
            Wrong(
                """from fdelib.workflows import sagas


def release_securities(conn, price, quantity):
    sagas.move(conn, "buyer", cash=price * quantity, cash_reserved=-price * quantity)
""",
                "That is reserve_cash's compensation (release_cash), which the saga also runs: the buyer's cash "
                "would be released twice, and the database refuses a reservation below zero. This step "
                "reserved the SELLER's shares.",
            ),
        ),
        passed="The saga with the fault at book_trade ends fully compensated with your step: the seller's "
        "shares are back, nothing is reserved, no share minted or lost. The step log made it "
        "idempotent: a redelivered undo would change nothing.",
    )
)

catalog.function(
    "saga_state",
    name="saga_state",
    cases=[
        Case(
            (["trade_requested", "cash_reserved", "securities_reserved", "trade_booked", "trade_settled"],), "completed"
        ),
        Case((["trade_requested", "cash_reserved", "securities_reserved", "book_trade_failed"],), "compensated"),
        Case((["trade_requested", "cash_reserved"],), "running"),
        Case((["trade_requested", "reserve_cash_failed"],), "compensated"),
        Case((["trade_requested"],), "running"),
        Case(  # a settlement fail after the pivot is retried: the saga goes on
            (["trade_requested", "cash_reserved", "securities_reserved", "trade_booked", "settle_retried"],), "running"
        ),
        Case(
            (
                [
                    "trade_requested",
                    "cash_reserved",
                    "securities_reserved",
                    "trade_booked",
                    "settle_retried",
                    "trade_settled",
                ],
            ),
            "completed",
        ),
    ],
    hidden=[
        Case(([],), "running"),
        Case((["trade_requested", "cash_reserved", "securities_reserved", "trade_booked"],), "running"),
    ],
    blank='''def saga_state(events):
    """The state of a choreographed saga from its events, in order:
    "completed", "compensated" or "running"."""
    ...
''',
    blank_hint='Return "compensated" when any event is a failure (its name ends with "_failed"), '
    '"completed" when the last event is "trade_settled", and "running" otherwise. '
    'Try it on sagas.events(engine, "C-fail")["event"].tolist().',
    wrong=[
        Wrong(
            """def saga_state(events):
    return "completed" if events[-1] == "trade_settled" else "compensated"
""",
            "A saga whose last event is cash_reserved is not compensated: it is still running (the next "
            "service has not reacted yet). Only a failure event makes the services compensate.",
        ),
        Wrong(
            """def saga_state(events):
    if "failed" in events:
        return "compensated"
    if events[-1] == "trade_settled":
        return "completed"
    return "running"
""",
            'No event is called just "failed": a failure event is named after the step that failed '
            '(book_trade_failed). Test each event\'s name with .endswith("_failed").',
        ),
    ],
    passed="You rebuilt the saga's state from its events — what anyone must do in choreography, "
    "where no coordinator keeps it in one place.",
)

# --- concept checks (chapter 11: sagas, orchestration vs choreography) ----------------------

catalog.choice(
    "concept_saga_why",
    name="answer_saga",
    options={
        "A": "each service commits in its own database: no transaction spans them to roll back",
        "B": "compensations are faster than a database rollback",
        "C": "PostgreSQL cannot roll back an UPDATE of a balance",
        "D": "a saga avoids the need for idempotent steps",
    },
    correct="A",
    hints={
        "B": "Speed is not the reason: if one transaction could span the services, its rollback "
        "would be the simplest undo. Why can't it?",
        "C": "Within one database a rollback undoes any UPDATE. The saga's steps are in different services' databases.",
        "D": "The reverse: messages are redelivered, so every step and compensation must be "
        "idempotent (the step log records each once).",
    },
    blank_hint="Why does the trade need compensations rather than a rollback? Set answer_saga to a letter.",
    passed="No transaction spans the services: each step commits on its own, so undoing it is "
    "a new action — its compensation.",
)

catalog.choice(
    "concept_orchestration",
    name="answer_new_step",
    options={
        "A": "orchestration: only the coordinator changes",
        "B": "choreography: only the new service changes",
        "C": "both: every service changes in either pattern",
    },
    correct="A",
    hints={
        "B": "In choreography the new service must react to cash_reserved, and the securities "
        "service must now react to the new service's event instead — and on its failure the "
        "others must compensate: several services change.",
        "C": "In orchestration the services know nothing of each other: only the coordinator, "
        "which knows the order, changes.",
    },
    blank_hint="A fraud check must run between reserve_cash and reserve_securities. In which pattern "
    "does adding it change one component? Set answer_new_step to a letter.",
    passed="The coordinator knows the order; services know nothing of each other. In choreography "
    "the order is spread over who reacts to which event, so adding a step touches several services.",
)

catalog.value(
    "concept_redelivery",
    name="extra_reserved",
    answer=0,
    blank_hint="The message reserve_cash for a saga is delivered twice (the broker did not see the "
    "first acknowledgement). How many dollars MORE are reserved by the second delivery?",
    wrong=[
        Wrong(
            "extra_reserved = 1000\n",
            "That is the trade's amount again: it would be reserved twice if steps were not "
            "idempotent. Each step is recorded once per saga (the step log's UNIQUE (saga, step, "
            "kind)), so a repeat does nothing.",
        ),
    ],
    passed="Nothing more: the step is recorded once per saga, so a redelivered message changes "
    "nothing — what makes retries safe in every saga, orchestrated or choreographed.",
)
