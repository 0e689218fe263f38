"""04_oms/03_microservices: who owns a table, who owns a decision, and what a rolling upgrade
must keep compatible."""

from fdelib.practice import Catalog, Wrong

catalog = Catalog("04_oms/03_microservices.ipynb")

catalog.value(
    "products_owner",
    name="products_owner",
    answer="inventory",
    blank_hint="Read the access matrix above: find the column of oms.products and the one service "
    "with a W in it. Answer with the service's name, as the matrix writes it "
    '(products_owner = "...").',
    wrong=[
        Wrong(
            'products_owner = "acknowledgement"\n',
            "The order service reads the catalogue (r in the matrix: it prices every order from "
            "it), but it never writes a product row. Owning a table means being its only "
            "writer: who takes stock off the shelves and puts it back?",
        )
    ],
    passed="Inventory is oms.products' only writer: stock goes down and up there and nowhere else. "
    "The order service's read of the prices is the coupling that remains; in production it "
    "would keep a copy of the catalogue, fed by inventory's events.",
)

catalog.choice(
    "price_decision",
    name="price_decision",
    options={
        "A": "payment: it charges the card",
        "B": "order acknowledgement: it prices the order from the catalogue and stores the amount",
        "C": "inventory: it owns the catalogue table, prices included",
        "D": "the client: it states the total in its order",
    },
    correct="B",
    hints={
        "A": "Payment charges oms.orders.amount, a figure it reads and never decides: the order row "
        "is the order service's (W in the matrix), payment only reads it (r).",
        "C": "Inventory keeps the catalogue rows, but the price of an order is fixed when the order "
        "service acknowledges it (it copies each unit_price into order_items): a later "
        "catalogue change does not reprice an order already placed.",
        "D": "The client's stated total is checked against the catalogue and the order refused if "
        "it differs (02_saga_compensation, section 5): checked, never trusted.",
    },
    blank_hint="Follow the amount: which service writes oms.orders (and its amount), and from what? "
    'Answer with a letter: price_decision = "A" (or B, C, D).',
    passed="The order service decides what an order costs, once, when it acknowledges it: every "
    "other service works from the amount it stored. One decision, one owner, so two "
    "services can never disagree on a price.",
)

catalog.choice(
    "compatible_change",
    name="compatible_change",
    options={
        "A": "rename the output field status to payment_status",
        "B": "add an output field currency",
        "C": "report amount in cents, as a whole number",
        "D": "require a new input field currency",
    },
    correct="B",
    hints={
        "A": "The order workflow's SWITCH reads ${payment.output.status}: renamed, it finds nothing, "
        "and a declined card would no longer stop the order. A rename breaks every reader at "
        "once.",
        "C": "Same name, new meaning: whoever reads amount (the order's outcome, a reconciliation "
        "report) reads 9140 as 9140.00. Changing what a field means breaks its readers as "
        "surely as removing it.",
        "D": "The workflow definition in use does not send it: every payment task would fail until "
        "the workflow changes too, so the two could no longer be released independently.",
    },
    blank_hint="Ask of each change: does every task already queued, every workflow definition and "
    "every reader of the output still work with v2 and v3 side by side? Answer with a "
    'letter: compatible_change = "A" (or B, C, D).',
    passed="Add, never rename, repurpose or require: old readers ignore a new field, so v3 can run "
    "beside v2 while orders flow, as v2 ran beside v1 (its receipt and service_version).",
)
