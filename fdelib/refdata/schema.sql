-- A small security master (schema `refdata`). Idempotent.
-- Entities and instruments keep history: a changed record closes its current version
-- (valid_to) and opens a new one; the current version has valid_to NULL.
SELECT pg_advisory_xact_lock(hashtext('fdelib.refdata.setup'));

CREATE SCHEMA IF NOT EXISTS refdata;

CREATE TABLE IF NOT EXISTS refdata.entities (
    lei           char(20) NOT NULL CHECK (lei ~ '^[0-9A-Z]{18}[0-9]{2}$'),
    legal_name    text NOT NULL,
    country       char(2) NOT NULL,
    city          text,
    status        text NOT NULL,
    registered_on date,
    source        text NOT NULL,
    valid_from    date NOT NULL,
    valid_to      date,
    PRIMARY KEY (lei, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS entities_current ON refdata.entities (lei) WHERE valid_to IS NULL;

CREATE TABLE IF NOT EXISTS refdata.instruments (
    figi             char(12) NOT NULL,
    composite_figi   char(12),
    share_class_figi char(12),
    ticker           text,
    exch_code        text,
    security_type    text,
    name             text,
    source           text NOT NULL,
    valid_from       date NOT NULL,
    valid_to         date,
    PRIMARY KEY (figi, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX IF NOT EXISTS instruments_current ON refdata.instruments (figi) WHERE valid_to IS NULL;

-- identifier cross-reference: which identifier maps to which, said by which source, when
CREATE TABLE IF NOT EXISTS refdata.xref (
    kind      text NOT NULL CHECK (kind IN ('BIC-LEI', 'ISIN-LEI', 'ISIN-FIGI', 'PERMID-LEI')),
    from_id   text NOT NULL,
    to_id     text NOT NULL,
    source    text NOT NULL,
    first_seen date NOT NULL,
    as_of     date NOT NULL,
    PRIMARY KEY (kind, from_id, to_id, source)
);
CREATE INDEX IF NOT EXISTS xref_to_idx ON refdata.xref (to_id);
-- a link the source's whole file no longer holds is retired, not deleted: first_seen, as_of
-- (last seen) and retired_on tell its story. NULL: current.
ALTER TABLE refdata.xref ADD COLUMN IF NOT EXISTS retired_on date;

-- values that failed validation: never stored as data, kept to be looked at. One row per
-- (source, kind, value, rule); as_of is the last download it was seen in.
CREATE TABLE IF NOT EXISTS refdata.rejects (
    source  text NOT NULL,
    kind    text NOT NULL,
    value   text NOT NULL,
    rule    text NOT NULL,
    as_of   date NOT NULL
);
-- upgrade from the first version, which appended a row per reload: keep one, then the key
DO $$
BEGIN
    IF to_regclass('refdata.rejects_key') IS NULL THEN
        DELETE FROM refdata.rejects a USING refdata.rejects b
        WHERE a.ctid < b.ctid AND (a.source, a.kind, a.value, a.rule) = (b.source, b.kind, b.value, b.rule);
        CREATE UNIQUE INDEX rejects_key ON refdata.rejects (source, kind, value, rule);
    END IF;
END $$;

-- PermID matches too weak to be identity links (below PERMID_MIN_LEVEL / PERMID_MIN_SCORE):
-- kept for a person to review, never used to resolve an identifier. One row per (LEI, PermID).
CREATE TABLE IF NOT EXISTS refdata.permid_candidates (
    lei          text NOT NULL,
    permid       text NOT NULL,
    matched_name text,
    score        numeric,
    level        text NOT NULL,
    below        text NOT NULL,        -- the threshold it missed, as configured when it was loaded
    as_of        date NOT NULL,
    PRIMARY KEY (lei, permid)
);

-- BICs are stored as GLEIF lists them, 11 characters (an 8-character BIC is its head office,
-- branch XXX): earlier versions stored 8-character BICs as they came.
DO $$
BEGIN
    IF EXISTS (SELECT FROM refdata.xref WHERE kind = 'BIC-LEI' AND length(from_id) = 8) THEN
        DELETE FROM refdata.xref short USING refdata.xref long
        WHERE short.kind = 'BIC-LEI' AND long.kind = 'BIC-LEI' AND length(short.from_id) = 8
          AND long.from_id = short.from_id || 'XXX' AND long.to_id = short.to_id AND long.source = short.source;
        UPDATE refdata.xref SET from_id = from_id || 'XXX' WHERE kind = 'BIC-LEI' AND length(from_id) = 8;
    END IF;
END $$;

-- Code lists (fdelib/refdata/codes.py): countries (ISO 3166-1) and currencies (ISO 4217) from
-- pycountry, markets (ISO 10383 MICs) from the registration authority's file. Instruments and
-- markets link to them with foreign keys: an unknown code is refused.
CREATE TABLE IF NOT EXISTS refdata.countries (
    alpha_2 char(2) PRIMARY KEY CHECK (alpha_2 ~ '^[A-Z]{2}$'),
    alpha_3 char(3) NOT NULL UNIQUE,
    numeric char(3) NOT NULL,
    name    text NOT NULL,
    source  text NOT NULL
);
CREATE TABLE IF NOT EXISTS refdata.currencies (
    code    char(3) PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    numeric char(3) NOT NULL,
    name    text NOT NULL,
    source  text NOT NULL
);
CREATE TABLE IF NOT EXISTS refdata.markets (
    mic           char(4) PRIMARY KEY CHECK (mic ~ '^[A-Z0-9]{4}$'),
    operating_mic char(4) NOT NULL REFERENCES refdata.markets (mic),    -- itself, for an operating MIC
    kind          text NOT NULL CHECK (kind IN ('OPRT', 'SGMT')),     -- operating MIC or a segment of one
    name          text NOT NULL,
    category      text,            -- RMKT regulated market, MLTF multilateral trading facility, ... NSPD not said
    acronym       text,
    country       char(2) NOT NULL REFERENCES refdata.countries (alpha_2),
    city          text NOT NULL,
    status        text NOT NULL CHECK (status IN ('ACTIVE', 'UPDATED', 'EXPIRED')),
    created_on    date,
    updated_on    date,
    expires_on    date,
    source        text NOT NULL,
    CHECK ((kind = 'OPRT') = (operating_mic = mic))
);
CREATE INDEX IF NOT EXISTS markets_country_idx ON refdata.markets (country);

-- an instrument's venue and trading currency (earlier versions had neither: added, then linked)
ALTER TABLE refdata.instruments ADD COLUMN IF NOT EXISTS mic char(4);
ALTER TABLE refdata.instruments ADD COLUMN IF NOT EXISTS currency char(3);
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'refdata.instruments'::regclass
                   AND conname = 'instruments_mic_fkey') THEN
        ALTER TABLE refdata.instruments ADD CONSTRAINT instruments_mic_fkey
            FOREIGN KEY (mic) REFERENCES refdata.markets (mic);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'refdata.instruments'::regclass
                   AND conname = 'instruments_currency_fkey') THEN
        ALTER TABLE refdata.instruments ADD CONSTRAINT instruments_currency_fkey
            FOREIGN KEY (currency) REFERENCES refdata.currencies (code);
    END IF;
END $$;
