-- The application's role: least privilege. It can read the bank and call the operations;
-- it cannot write a table directly, so every balance change goes through a function that
-- books its ledger row. Run with the parameter `password` (psycopg2 style).
SELECT pg_advisory_xact_lock(hashtext('fdelib.bank.setup'));

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bank_app') THEN
        CREATE ROLE bank_app LOGIN;
    END IF;
END $$;
-- (new roles are NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS by default; only roles that
-- hold an attribute may change it, and the application role holds none of these)
ALTER ROLE bank_app LOGIN NOCREATEROLE NOINHERIT
    CONNECTION LIMIT 64 PASSWORD %(password)s;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %%I TO bank_app', current_database());
END $$;
GRANT USAGE ON SCHEMA bank TO bank_app;

-- nothing by default, then exactly what the application needs
REVOKE ALL ON ALL TABLES IN SCHEMA bank FROM bank_app, PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA bank FROM bank_app, PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bank FROM bank_app, PUBLIC;  -- functions default to PUBLIC EXECUTE
GRANT SELECT ON ALL TABLES IN SCHEMA bank TO bank_app;
GRANT EXECUTE ON FUNCTION
    bank.deposit(bigint, numeric, timestamptz, text),
    bank.withdraw(bigint, numeric, timestamptz, text),
    bank.transfer(bigint, bigint, numeric, timestamptz, text),
    bank.pay_loan(bigint, numeric, timestamptz, text),
    bank.ledger_breaks(),
    bank.luhn_ok(text)
TO bank_app;
