"""05_refdata/01_security_master: check digits by hand (LEI, ISIN) and the security master's
cross-reference ISIN → LEI → legal name."""

from fdelib.practice import Case, Catalog, Wrong

catalog = Catalog("05_refdata/01_security_master.ipynb")

# Bodies of real or universe LEIs: one whose check digits are below 10 (written with a leading 0)
catalog.function(
    "lei_check_digits",
    name="lei_check_digits",
    cases=[
        Case(("5493000IBP32UQZ0KL",), "24"),
        Case(("5299009U26192K42QP",), "07"),
        Case(("213800IG8F1CBFNO6B",), "54"),
        Case(("549300K1VRJNVGFYGW",), "89"),
    ],
    hidden=[Case(("529900T8BM49AURSDO",), "55"), Case(("7LTWFZYICNSX8D621K",), "86")],
    blank="def lei_check_digits(body: str) -> str:\n"
    '    """The two check digits of an LEI\'s first 18 characters."""\n    ...\n',
    blank_hint="Turn every character into its number (digits stay, A=10 … Z=35: int(c, 36)), append '00', "
    "take that number mod 97; the check digits are 98 minus it, written with two digits.",
    wrong=[
        Wrong(
            "def lei_check_digits(body: str) -> str:\n"
            '    digits = "".join(c for c in body if c.isdigit())\n'
            "    return f\"{98 - int(digits + '00') % 97:02d}\"\n",
            "The letters count too: each becomes two digits (A=10 … Z=35, int(c, 36)) before the mod 97 — "
            "dropping them checks a different number, and a typo in a letter would go unnoticed.",
        ),
        Wrong(
            "def lei_check_digits(body: str) -> str:\n"
            '    number = int("".join(str(int(c, 36)) for c in body) + "00")\n'
            "    return str(98 - number % 97)\n",
            "Right number, wrong spelling: the check digits are always two characters, so 7 is written "
            "'07' (f\"{n:02d}\").",
        ),
    ],
    passed="ISO 7064 mod 97-10, the IBAN's scheme: the whole LEI, read as a number, leaves 1 when divided by 97.",
)

# Real ISINs' first 11 characters: Apple, BHP (letters at the end: the doubling's start matters),
# Shell, SAP (check digit 0), Philips
catalog.function(
    "isin_check_digit",
    name="isin_check_digit",
    cases=[
        Case(("US037833100",), 5),
        Case(("AU000000BHP",), 4),
        Case(("GB00B03MLX2",), 9),
        Case(("DE000716460",), 0),
        Case(("NL000009538",), 8),
    ],
    hidden=[Case(("US594918104",), 5), Case(("FR000012007",), 3), Case(("CH003886335",), 0)],
    blank="def isin_check_digit(body: str) -> int:\n"
    '    """The Luhn check digit of an ISIN\'s first 11 characters."""\n    ...\n',
    blank_hint="Letters to numbers first (A=10 … Z=35: int(c, 36)), then Luhn on that string of digits: from "
    "the RIGHT, double every other digit starting with the last, add up the digits of the results; "
    "the check digit is (10 - sum % 10) % 10.",
    wrong=[
        Wrong(
            "def isin_check_digit(body: str) -> int:\n"
            '    digits = "".join(str(int(c, 36)) for c in body)\n'
            "    total = 0\n"
            "    for i, d in enumerate(digits):\n"
            "        d = int(d) * (2 if i % 2 == 0 else 1)\n"
            "        total += d // 10 + d % 10\n"
            "    return (10 - total % 10) % 10\n",
            "The doubling starts from the wrong end: Luhn doubles the LAST digit and every other one going "
            "left. From the left it only works when the digit string has an odd length — BHP's letters make "
            "it even (iterate over reversed(digits)).",
        ),
        Wrong(
            "def isin_check_digit(body: str) -> int:\n"
            '    digits = "".join(c for c in body if c.isdigit())\n'
            "    total = 0\n"
            "    for i, d in enumerate(reversed(digits)):\n"
            "        d = int(d) * (2 if i % 2 == 0 else 1)\n"
            "        total += d // 10 + d % 10\n"
            "    return (10 - total % 10) % 10\n",
            "The country code and the NSIN's letters count: turn each into two digits first (US → 30 28, "
            "int(c, 36)), then run Luhn over the whole string.",
        ),
    ],
    passed="Luhn over the letters turned into numbers: a single mistyped character always changes the check digit.",
)

# A small copy of the store: an entity renamed (two versions), a retired link, a link of another
# kind, rows out of order.
STORE = """
CREATE TABLE entities (lei text NOT NULL, legal_name text NOT NULL, country text, city text, status text,
    registered_on date, source text, valid_from date NOT NULL, valid_to date, PRIMARY KEY (lei, valid_from));
INSERT INTO entities (lei, legal_name, valid_from, valid_to) VALUES
    ('LEI00000000000000B22', 'Beta Holdings plc', '2024-01-02', NULL),
    ('LEI00000000000000A11', 'Alpha Industries Inc.', '2025-06-30', NULL),
    ('LEI00000000000000A11', 'Alpha Manufacturing Inc.', '2020-01-02', '2025-06-30'),
    ('LEI00000000000000C33', 'Gamma SE', '2022-03-01', NULL);
CREATE TABLE xref (kind text NOT NULL, from_id text NOT NULL, to_id text NOT NULL, source text,
    first_seen date, as_of date, retired_on date);
INSERT INTO xref (kind, from_id, to_id, retired_on) VALUES
    ('ISIN-LEI', 'US0000000C33', 'LEI00000000000000C33', NULL),
    ('ISIN-LEI', 'US0000000A11', 'LEI00000000000000A11', NULL),
    ('BIC-LEI', 'ALPHUS33XXX', 'LEI00000000000000A11', NULL),
    ('ISIN-LEI', 'GB0000000B22', 'LEI00000000000000B22', '2026-01-02');
"""

catalog.sql_query(
    "issuer_of_isin",
    copy=STORE,
    copy_of=("refdata",),
    copy_says="a small copy of refdata's entities and xref (a renamed entity, a retired link, a link of another kind)",
    blank_hint="Start from refdata.xref's ISIN-LEI links (kind = 'ISIN-LEI': from_id is the ISIN, to_id the LEI), "
    "join refdata.entities on the LEI, and return isin, lei, legal_name ordered by isin.",
    wrong=[
        Wrong(
            "%%sql --save issuer_of_isin\n"
            "SELECT x.from_id AS isin, e.lei, e.legal_name\n"
            "FROM refdata.xref x JOIN refdata.entities e ON e.lei = x.to_id\n"
            "WHERE x.kind = 'ISIN-LEI' AND x.retired_on IS NULL\n"
            "ORDER BY isin\n",
            "Some ISINs come back twice, with an old and a new name: refdata.entities keeps every version of "
            "an entity. The current one has valid_to IS NULL.",
        ),
        Wrong(
            "%%sql --save issuer_of_isin\n"
            "SELECT x.from_id AS isin, e.lei, e.legal_name\n"
            "FROM refdata.xref x JOIN refdata.entities e ON e.lei = x.to_id AND e.valid_to IS NULL\n"
            "WHERE x.kind = 'ISIN-LEI'\n"
            "ORDER BY isin\n",
            "One ISIN too many: the matured instrument's link is retired (retired_on is set) — GLEIF's latest "
            "file no longer holds it. Keep the current links only (retired_on IS NULL).",
        ),
    ],
    passed="ISIN → LEI → legal name, current links and current names only: the security master's cross-reference "
    "as refdata.security_master answers it.",
)
