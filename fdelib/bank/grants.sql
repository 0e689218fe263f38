-- Who may do what in schema bank: nothing by default, then exactly what each role needs.
-- Run as bank_owner, after schema.sql and functions.sql (fdelib.bank.ddl.setup), with
-- fdelib.notebook_role set to the role notebooks connect as.
--
-- bank_app and the notebooks' role read every table, but customers' national ids: column
-- privileges leave that one column out (SELECT * FROM bank.customers is refused; name the
-- columns, or read bank.customers_masked, which shows the last four digits only). Neither may
-- write a table: every balance change goes through an operation that books its ledger row.
SELECT pg_advisory_xact_lock(hashtext('fdelib.bank.setup'));

-- Customers as the application may see them: the national id masked.
CREATE OR REPLACE VIEW bank.customers_masked AS
    SELECT customer_id, first_name, last_name, email, '***-**-' || right(national_id, 4) AS national_id,
           phone, date_of_birth, home_branch_id, min_balance, joined_on
    FROM bank.customers;

REVOKE ALL ON SCHEMA bank FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA bank FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA bank FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bank FROM PUBLIC;   -- functions default to PUBLIC EXECUTE

DO $$
DECLARE
    reader text;
BEGIN
    FOREACH reader IN ARRAY ARRAY['bank_app', current_setting('fdelib.notebook_role')] LOOP
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA bank FROM %I', reader);   -- and column grants
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA bank FROM %I', reader);
        EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bank FROM %I', reader);
        EXECUTE format('GRANT USAGE ON SCHEMA bank TO %I', reader);
        EXECUTE format('GRANT SELECT ON bank.branches, bank.employees, bank.accounts, bank.cards, bank.loans,'
                       ' bank.transactions, bank.course_clock, bank.customers_masked TO %I', reader);
        EXECUTE format('GRANT SELECT (customer_id, first_name, last_name, email, phone, date_of_birth,'
                       ' home_branch_id, min_balance, joined_on) ON bank.customers TO %I', reader);
        EXECUTE format('GRANT EXECUTE ON FUNCTION bank.ledger_breaks(), bank.booking_clock(),'
                       ' bank.luhn_ok(text) TO %I', reader);
    END LOOP;
END $$;

-- The application moves money through the operations, and only through them.
GRANT EXECUTE ON FUNCTION
    bank.deposit(bigint, numeric, text),
    bank.withdraw(bigint, numeric, text),
    bank.transfer(bigint, bigint, numeric, text),
    bank.pay_loan(bigint, numeric, text)
TO bank_app;
-- (bank.set_course_clock and the helpers stay bank_owner's: no one else sets the clock)
