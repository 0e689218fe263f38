-- Rules that need more than a constraint (triggers), and the bank's operations.
-- Idempotent without drop-and-recreate: CREATE OR REPLACE for functions and triggers; the
-- card CHECK and the constraint trigger (which has no OR REPLACE) are added only when absent,
-- so running setup again neither re-scans the cards nor touches a trigger.
SELECT pg_advisory_xact_lock(hashtext('fdelib.bank.setup'));

-- Card numbers carry a Luhn check digit (ISO/IEC 7812).
CREATE OR REPLACE FUNCTION bank.luhn_ok(p_number text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    total integer := 0;
    digit integer;
BEGIN
    IF p_number !~ '^[0-9]{13,19}$' THEN
        RETURN false;
    END IF;
    FOR i IN 1 .. length(p_number) LOOP
        digit := substr(p_number, length(p_number) - i + 1, 1)::integer;
        IF i % 2 = 0 THEN
            digit := digit * 2;
            IF digit > 9 THEN digit := digit - 9; END IF;
        END IF;
        total := total + digit;
    END LOOP;
    RETURN total % 10 = 0;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'bank.cards'::regclass AND conname = 'cards_number_luhn') THEN
        ALTER TABLE bank.cards ADD CONSTRAINT cards_number_luhn CHECK (bank.luhn_ok(card_number));
    END IF;
END $$;

-- Rule: an account's balance never goes below its customer's own minimum.
-- Statement-level with transition tables: one set-based check per statement, so a COPY of
-- 100 000 accounts costs one join, and a transfer one index lookup.
CREATE OR REPLACE FUNCTION bank._check_min_balance() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    SELECT a.account_number, a.balance, c.customer_id, c.min_balance INTO bad
    FROM changed a JOIN bank.customers c USING (customer_id)
    WHERE a.balance < c.min_balance
    ORDER BY a.account_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'balance of account % would be %, below the minimum % of customer %',
            bad.account_number, bad.balance, bad.min_balance, bad.customer_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'accounts_min_balance',
                  HINT = 'an account may not go below its customer''s min_balance';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER accounts_min_balance_ins AFTER INSERT ON bank.accounts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bank._check_min_balance();
CREATE OR REPLACE TRIGGER accounts_min_balance_upd AFTER UPDATE ON bank.accounts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bank._check_min_balance();

-- The same rule seen from the customer: raising min_balance above a balance is refused.
-- The customer's accounts are locked first, so a concurrent withdrawal cannot slip under
-- the new floor between this check and commit (write skew).
CREATE OR REPLACE FUNCTION bank._check_new_minimum() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    PERFORM 1 FROM bank.accounts WHERE customer_id = NEW.customer_id
        ORDER BY account_id FOR SHARE;
    SELECT account_number, balance INTO bad FROM bank.accounts
    WHERE customer_id = NEW.customer_id AND balance < NEW.min_balance
    ORDER BY account_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'minimum % of customer % is above the balance % of account %',
            NEW.min_balance, NEW.customer_id, bad.balance, bad.account_number
            USING ERRCODE = 'check_violation', CONSTRAINT = 'accounts_min_balance';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER customers_min_balance BEFORE UPDATE OF min_balance ON bank.customers
    FOR EACH ROW WHEN (NEW.min_balance > OLD.min_balance) EXECUTE FUNCTION bank._check_new_minimum();

-- Rule: the ledger is append-only. Corrections are new rows, never edits.
CREATE OR REPLACE FUNCTION bank._ledger_is_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows cannot be changed or deleted (transaction %); book a correcting transaction instead',
        OLD.transaction_id USING ERRCODE = 'restrict_violation', CONSTRAINT = 'transactions_append_only';
END $$;

CREATE OR REPLACE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON bank.transactions
    FOR EACH ROW EXECUTE FUNCTION bank._ledger_is_append_only();

-- Rule: each ledger row continues its account's chain: balance_after = previous + amount,
-- and time never runs backwards within an account.
CREATE OR REPLACE FUNCTION bank._check_ledger_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    WITH n AS (
        SELECT t.*, lag(balance_after) OVER w AS prev_balance, lag(booked_at) OVER w AS prev_at,
               row_number() OVER w AS rn
        FROM added t WINDOW w AS (PARTITION BY account_id ORDER BY transaction_id)
    )
    SELECT n.transaction_id, n.account_id, n.amount, n.balance_after,
           coalesce(n.prev_balance, p.balance_after, 0) AS before,
           coalesce(n.prev_at, p.booked_at) AS before_at, n.booked_at INTO bad
    FROM n LEFT JOIN LATERAL (
        SELECT o.balance_after, o.booked_at FROM bank.transactions o
        WHERE n.rn = 1 AND o.account_id = n.account_id AND o.transaction_id < n.transaction_id
        ORDER BY o.transaction_id DESC LIMIT 1) p ON true
    WHERE n.balance_after <> coalesce(n.prev_balance, p.balance_after, 0) + n.amount
       OR n.booked_at < coalesce(n.prev_at, p.booked_at)
    ORDER BY n.transaction_id LIMIT 1;
    IF FOUND THEN
        IF bad.booked_at < bad.before_at THEN
            RAISE EXCEPTION 'transaction % on account % is booked at %, before the previous one (%)',
                bad.transaction_id, bad.account_id, bad.booked_at, bad.before_at
                USING ERRCODE = 'check_violation', CONSTRAINT = 'transactions_chronological';
        END IF;
        RAISE EXCEPTION 'transaction % on account %: balance_after % <> previous balance % + amount %',
            bad.transaction_id, bad.account_id, bad.balance_after, bad.before, bad.amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'transactions_chain';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER transactions_chain AFTER INSERT ON bank.transactions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION bank._check_ledger_chain();

-- Rule: no balance without a ledger row that explains it. Checked at COMMIT (deferred), so
-- an operation may update the balance and then book its row, in either order.
CREATE OR REPLACE FUNCTION bank._check_balance_explained() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    current_balance numeric;
    explained numeric;
BEGIN
    SELECT balance INTO current_balance FROM bank.accounts WHERE account_id = NEW.account_id;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted later in the same transaction
    END IF;
    SELECT balance_after INTO explained FROM bank.transactions
    WHERE account_id = NEW.account_id ORDER BY transaction_id DESC LIMIT 1;
    IF current_balance IS DISTINCT FROM coalesce(explained, 0) THEN
        RAISE EXCEPTION 'balance % of account % is not explained by its ledger (last balance_after: %)',
            current_balance, NEW.account_number, coalesce(explained, 0)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'accounts_balance_explained',
                  HINT = 'change balances only through bank.deposit / withdraw / transfer / pay_loan';
    END IF;
    RETURN NULL;
END $$;

-- (CREATE OR REPLACE is not supported for constraint triggers: created once, when absent)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'bank.accounts'::regclass
                   AND tgname = 'accounts_balance_explained') THEN
        CREATE CONSTRAINT TRIGGER accounts_balance_explained
            AFTER INSERT OR UPDATE OF balance ON bank.accounts DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION bank._check_balance_explained();
    END IF;
END $$;

-- Rule: a loan's outstanding amount is what its payments leave of the principal. Checked at
-- COMMIT (deferred), like balances: bank.pay_loan lowers it and books the payment row in one
-- transaction. (Interest does not change it: see bank.accrue_interest.)
CREATE OR REPLACE FUNCTION bank._check_outstanding_explained() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    loan record;
    paid numeric;
BEGIN
    SELECT l.loan_id, l.principal, l.outstanding INTO loan FROM bank.loans l WHERE l.loan_id = NEW.loan_id;
    IF NOT FOUND THEN
        RETURN NULL;  -- deleted later in the same transaction
    END IF;
    SELECT coalesce(-sum(t.amount), 0) INTO paid FROM bank.transactions t
    WHERE t.loan_id = NEW.loan_id AND t.kind = 'loan_payment';
    IF loan.outstanding IS DISTINCT FROM loan.principal - paid THEN
        RAISE EXCEPTION 'outstanding % of loan % is not explained by its payments (principal % - paid % = %)',
            loan.outstanding, loan.loan_id, loan.principal, paid, loan.principal - paid
            USING ERRCODE = 'check_violation', CONSTRAINT = 'loans_outstanding_explained',
                  HINT = 'change what a loan owes only through bank.pay_loan';
    END IF;
    RETURN NULL;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'bank.loans'::regclass
                   AND tgname = 'loans_outstanding_explained') THEN
        CREATE CONSTRAINT TRIGGER loans_outstanding_explained
            AFTER INSERT OR UPDATE OF outstanding, principal ON bank.loans DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION bank._check_outstanding_explained();
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------
-- The bank's clock. The database stamps every booking: no caller states a time (a caller that
-- could would backdate a debit past an account's closing, or book at 'infinity' and freeze an
-- account for good). Normally that is the wall clock, clock_timestamp(); a course sets a fixed
-- course clock instead -- only the bank's owner can (bank.set_course_clock) -- so a lesson's
-- ledger is the same on every run.
CREATE OR REPLACE FUNCTION bank.booking_clock() RETURNS timestamptz
LANGUAGE sql VOLATILE SET search_path = pg_catalog, bank, pg_temp AS $$
    SELECT coalesce((SELECT c.course_time FROM bank.course_clock c), clock_timestamp())
$$;

-- Set the course clock (NULL: back to the wall clock); returns the time bookings now get.
-- Refused: a time outside 1970..2200, 'infinity', or a time before the ledger's last booking.
CREATE OR REPLACE FUNCTION bank.set_course_clock(p_at timestamptz) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    last_booking timestamptz;
BEGIN
    IF p_at IS NOT NULL THEN
        IF NOT (p_at >= '1970-01-01 00:00:00+00' AND p_at < '2200-01-01 00:00:00+00') THEN
            RAISE EXCEPTION 'the course clock must be a time from 1970 to 2199, got %', p_at
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT max(t.booked_at) INTO last_booking FROM bank.transactions t;
        IF p_at < last_booking THEN
            RAISE EXCEPTION 'the course clock cannot be set to %, before the last booking (%)', p_at, last_booking
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'time does not run backwards in a ledger; bank.populate starts a new one';
        END IF;
    END IF;
    INSERT INTO bank.course_clock (only_row, course_time) VALUES (true, p_at)
        ON CONFLICT (only_row) DO UPDATE SET course_time = excluded.course_time;
    RETURN bank.booking_clock();
END $$;

-- A ledger row written directly (by the owner) is stamped by the same clock unless it says otherwise.
ALTER TABLE bank.transactions ALTER COLUMN booked_at SET DEFAULT bank.booking_clock();

-- ---------------------------------------------------------------------------------------
-- Operations. SECURITY DEFINER: they run with the owner's rights, so the application role
-- needs EXECUTE on them and nothing else to move money. None takes a time: the bank's clock
-- stamps the booking, read after the accounts' locks are held.

-- Every amount an operation takes passes here first. NaN and ±Infinity are refused by name
-- before anything else: NaN = NaN is true and NaN sorts above every number in PostgreSQL, so
-- 'NaN' would pass `<= 0` and every later comparison (and psycopg2 sends Decimal('Infinity')
-- as 'NaN'::numeric).
CREATE OR REPLACE FUNCTION bank._check_amount(p_amount numeric) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, bank, pg_temp AS $$
BEGIN
    IF p_amount IS NULL THEN
        RAISE EXCEPTION 'amount is required, got NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_amount IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'amount must be a finite number, got %', p_amount
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'NaN and Infinity are not amounts of money';
    END IF;
    IF p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be positive, got %', p_amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_amount > 999999999999.99 THEN
        RAISE EXCEPTION 'amount % is above the largest amount the bank books (999999999999.99)', p_amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_amount <> round(p_amount, 2) THEN
        RAISE EXCEPTION 'amount % has fractions of a cent', p_amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

-- Lock the accounts in id order (so two transfers can never deadlock), then read the bank's
-- clock -- after the locks are held, and never earlier than the accounts' last bookings, so the
-- bookings of an account are in time order by construction (under READ COMMITTED a caller's own
-- clock a millisecond behind the last booking used to be refused) -- and check the accounts are
-- open on that (UTC) day. Returns the booking time.
DROP FUNCTION IF EXISTS bank._lock_open_accounts(bigint[], timestamptz);  -- the caller's time, before
CREATE OR REPLACE FUNCTION bank._lock_open_accounts(p_ids bigint[]) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    acc record;
    locked bigint[] := '{}';
    numbers text[] := '{}';
    opened date[] := '{}';
    closed date[] := '{}';
    booking timestamptz;
    today date;
BEGIN
    FOR acc IN SELECT account_id, account_number, opened_on, closed_on FROM bank.accounts
               WHERE account_id = ANY (p_ids) ORDER BY account_id FOR UPDATE LOOP
        locked := locked || acc.account_id;
        numbers := numbers || acc.account_number;
        opened := opened || acc.opened_on;
        closed := closed || acc.closed_on;
    END LOOP;
    IF cardinality(locked) < cardinality(ARRAY(SELECT DISTINCT unnest(p_ids))) THEN
        RAISE EXCEPTION 'no account with id %', (SELECT min(i) FROM unnest(p_ids) i
            WHERE NOT EXISTS (SELECT 1 FROM bank.accounts a WHERE a.account_id = i))
            USING ERRCODE = 'no_data_found';
    END IF;
    SELECT greatest(bank.booking_clock(), max(last.booked_at)) INTO booking
    FROM unnest(locked) AS i(account_id)
    LEFT JOIN LATERAL (SELECT t.booked_at FROM bank.transactions t WHERE t.account_id = i.account_id
                       ORDER BY t.transaction_id DESC LIMIT 1) last ON true;
    IF NOT (booking >= '1970-01-01 00:00:00+00' AND booking < '2200-01-01 00:00:00+00') THEN
        RAISE EXCEPTION 'cannot book at %: the bank''s clock or an account''s last booking is outside 1970..2199',
            booking USING ERRCODE = 'datetime_field_overflow',
                          HINT = 'SELECT * FROM bank.ledger_breaks() lists bookings at impossible times';
    END IF;
    today := (booking AT TIME ZONE 'UTC')::date;
    FOR i IN 1 .. cardinality(locked) LOOP
        IF closed[i] IS NOT NULL AND closed[i] <= today THEN
            RAISE EXCEPTION 'account % is closed since %', numbers[i], closed[i]
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF opened[i] > today THEN
            RAISE EXCEPTION 'account % opens on %, after today (%)', numbers[i], opened[i], today
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END LOOP;
    RETURN booking;
END $$;

-- A request in words, for messages: kind is the ledger kind of its (first) row; target is
-- the account credited by a transfer, or the loan a payment repays.
CREATE OR REPLACE FUNCTION bank._describe_request(p_kind text, p_account bigint, p_target bigint,
    p_amount numeric) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, bank, pg_temp AS $$
    SELECT CASE p_kind
        WHEN 'deposit' THEN format('a deposit of %s into account %s', round(p_amount, 2), p_account)
        WHEN 'withdrawal' THEN format('a withdrawal of %s from account %s', round(p_amount, 2), p_account)
        WHEN 'transfer_out' THEN format('a transfer of %s from account %s to account %s',
                                        round(p_amount, 2), p_account, p_target)
        WHEN 'loan_payment' THEN format('a payment of %s on loan %s from account %s',
                                        round(p_amount, 2), p_target, p_account)
        ELSE format('a %s of %s on account %s', p_kind, round(p_amount, 2), p_account)
    END
$$;

-- A request already booked under this reference: return its booking (idempotent retry) if it
-- is the same request -- same kind, account, target (account or loan) and amount. A reference
-- reused for anything else is refused, naming what differs; nothing is written.
DROP FUNCTION IF EXISTS bank._replayed(text, bigint, numeric);  -- before it compared kinds and targets
CREATE OR REPLACE FUNCTION bank._replayed(p_reference text, p_kind text, p_account bigint,
    p_target bigint, p_amount numeric)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    prior record;
    prior_target bigint;
    differs text[] := '{}';
BEGIN
    IF p_reference IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_reference LIKE 'interest:%' THEN   -- the interest job's: a client must not pre-empt one
        RAISE EXCEPTION 'references starting with "interest:" are the bank''s own (its interest job), got %',
            quote_literal(p_reference) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- (the sign of an amount follows its kind, transactions_amount_sign: compare sizes)
    SELECT transaction_id, kind, account_id, abs(amount) AS amount, loan_id INTO prior
    FROM bank.transactions WHERE reference = p_reference AND kind <> 'transfer_in';
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    prior_target := CASE prior.kind
        WHEN 'transfer_out' THEN (SELECT account_id FROM bank.transactions
                                  WHERE counterpart_id = prior.transaction_id)
        WHEN 'loan_payment' THEN prior.loan_id END;
    IF prior.kind <> p_kind THEN
        differs := differs || 'operation kind'::text;
    END IF;
    IF prior.account_id <> p_account THEN
        differs := differs || CASE WHEN p_kind = 'transfer_out' THEN 'source account' ELSE 'account' END;
    END IF;
    IF prior.kind = p_kind AND prior_target IS DISTINCT FROM p_target THEN
        differs := differs || CASE WHEN p_kind = 'loan_payment' THEN 'loan' ELSE 'target account' END;
    END IF;
    IF prior.amount <> p_amount THEN
        differs := differs || 'amount'::text;
    END IF;
    IF cardinality(differs) > 0 THEN
        RAISE EXCEPTION 'reference % was already used for %; this request is % (% %)',
            quote_literal(p_reference),
            bank._describe_request(prior.kind, prior.account_id, prior_target, prior.amount),
            bank._describe_request(p_kind, p_account, p_target, p_amount),
            array_to_string(differs, ', '), CASE WHEN cardinality(differs) = 1 THEN 'differs' ELSE 'differ' END
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'transactions_reference_key',
                  HINT = 'a reference identifies one request: resend the same request to get its booking, '
                         'or use a new reference for a new one';
    END IF;
    RETURN prior.transaction_id;
END $$;

-- Move money and book the row that explains it; the triggers check the floor and the chain.
CREATE OR REPLACE FUNCTION bank._post(p_account bigint, p_amount numeric, p_kind text,
    p_at timestamptz, p_reference text, p_counterpart bigint, p_loan bigint)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    new_balance numeric;
    booked bigint;
BEGIN
    UPDATE bank.accounts SET balance = balance + p_amount WHERE account_id = p_account
        RETURNING balance INTO new_balance;
    INSERT INTO bank.transactions (account_id, kind, amount, balance_after, booked_at, reference,
                                   counterpart_id, loan_id)
    VALUES (p_account, p_kind, p_amount, new_balance, p_at, p_reference, p_counterpart, p_loan)
    RETURNING transaction_id INTO booked;
    RETURN booked;
END $$;

-- The operations took the caller's time (p_at) before: those signatures are dropped, not
-- left beside the new ones (CREATE OR REPLACE cannot change a signature, and an old overload
-- would stay callable -- and backdate -- with its EXECUTE grant).
DROP FUNCTION IF EXISTS bank.deposit(bigint, numeric, timestamptz, text);
DROP FUNCTION IF EXISTS bank.withdraw(bigint, numeric, timestamptz, text);
DROP FUNCTION IF EXISTS bank.transfer(bigint, bigint, numeric, timestamptz, text);
DROP FUNCTION IF EXISTS bank.pay_loan(bigint, numeric, timestamptz, text);

CREATE OR REPLACE FUNCTION bank.deposit(p_account bigint, p_amount numeric, p_reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    booking timestamptz;
    prior bigint;
BEGIN
    PERFORM bank._check_amount(p_amount);
    booking := bank._lock_open_accounts(ARRAY[p_account]);
    prior := bank._replayed(p_reference, 'deposit', p_account, NULL, p_amount);
    IF prior IS NOT NULL THEN RETURN prior; END IF;
    RETURN bank._post(p_account, p_amount, 'deposit', booking, p_reference, NULL, NULL);
END $$;

CREATE OR REPLACE FUNCTION bank.withdraw(p_account bigint, p_amount numeric, p_reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    booking timestamptz;
    prior bigint;
BEGIN
    PERFORM bank._check_amount(p_amount);
    booking := bank._lock_open_accounts(ARRAY[p_account]);
    prior := bank._replayed(p_reference, 'withdrawal', p_account, NULL, p_amount);
    IF prior IS NOT NULL THEN RETURN prior; END IF;
    RETURN bank._post(p_account, -p_amount, 'withdrawal', booking, p_reference, NULL, NULL);
END $$;

-- Returns the id of the debit row; the credit row points back at it (counterpart_id).
CREATE OR REPLACE FUNCTION bank.transfer(p_from bigint, p_to bigint, p_amount numeric,
    p_reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    booking timestamptz;
    prior bigint;
    debit bigint;
BEGIN
    PERFORM bank._check_amount(p_amount);
    IF p_from = p_to THEN
        RAISE EXCEPTION 'cannot transfer from account % to itself', p_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    booking := bank._lock_open_accounts(ARRAY[p_from, p_to]);
    prior := bank._replayed(p_reference, 'transfer_out', p_from, p_to, p_amount);
    IF prior IS NOT NULL THEN RETURN prior; END IF;
    debit := bank._post(p_from, -p_amount, 'transfer_out', booking, p_reference, NULL, NULL);
    PERFORM bank._post(p_to, p_amount, 'transfer_in', booking, p_reference, debit, NULL);
    RETURN debit;
END $$;

-- Debits the loan's account and reduces the outstanding principal by the same amount.
-- Paying more than is outstanding breaks loans_outstanding_check and is refused.
CREATE OR REPLACE FUNCTION bank.pay_loan(p_loan bigint, p_amount numeric, p_reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    loan_account bigint;
    booking timestamptz;
    prior bigint;
BEGIN
    PERFORM bank._check_amount(p_amount);
    SELECT account_id INTO loan_account FROM bank.loans WHERE loan_id = p_loan;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no loan with id %', p_loan USING ERRCODE = 'no_data_found';
    END IF;
    booking := bank._lock_open_accounts(ARRAY[loan_account]);
    prior := bank._replayed(p_reference, 'loan_payment', loan_account, p_loan, p_amount);
    IF prior IS NOT NULL THEN RETURN prior; END IF;
    UPDATE bank.loans SET outstanding = outstanding - p_amount WHERE loan_id = p_loan;
    RETURN bank._post(loan_account, -p_amount, 'loan_payment', booking, p_reference, NULL, p_loan);
END $$;

-- ---------------------------------------------------------------------------------------
-- Loan interest: a set-based job for one calendar month, run by the bank (its owner), never by
-- the application. Interest is charged monthly in arrears to the loan's repayment account, as a
-- ledger row of kind 'loan_interest' naming the loan, booked through the same rules as every
-- operation (the minimum balance, the chain, balances explained at COMMIT). It is the price of
-- the loan, not more loan: `outstanding` (principal still owed) changes only through repayments,
-- so 0 <= outstanding <= principal and "outstanding = principal - payments" keep holding.

-- What each loan owes for a month (bank.accrue_interest charges it). Interest accrues daily on
-- the end-of-day amount still owed -- the principal less the payments booked by the end of that
-- (UTC) day, read from the ledger -- at annual_rate / 365 a day (actual/365), over the days of the
-- month the loan existed, summed and rounded to the cent:
--   interest = round(sum over those days d of owed(d) x annual_rate / 365, 2)
-- so a repayment on the 15th lowers the interest from the 15th on; without a repayment in the
-- month it is owed x annual_rate x days / 365. `owed` is what is owed when the month ends.
CREATE OR REPLACE FUNCTION bank.interest_due(p_month date)
RETURNS TABLE (loan_id bigint, account_id bigint, days integer, owed numeric, annual_rate numeric,
               interest numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH loan AS (
        SELECT l.loan_id, l.account_id, l.principal, l.annual_rate, m.next_month,
               greatest(m.first_day, l.start_date) AS accrues_from
        FROM bank.loans l,
             LATERAL (SELECT date_trunc('month', p_month)::date AS first_day,
                             (date_trunc('month', p_month) + interval '1 month')::date AS next_month) m
        WHERE l.start_date < m.next_month)
    SELECT l.loan_id, l.account_id, l.next_month - l.accrues_from, l.principal + coalesce(sum(t.amount), 0),
           l.annual_rate,
           -- a payment's amount is negative: it lowers what is owed from the day it was booked on
           round((l.principal * (l.next_month - l.accrues_from)
                  + coalesce(sum(t.amount * (l.next_month - greatest((t.booked_at AT TIME ZONE 'UTC')::date,
                                                                     l.accrues_from))), 0))
                 * l.annual_rate / 365, 2)
    FROM loan l LEFT JOIN bank.transactions t
        ON t.loan_id = l.loan_id AND t.kind = 'loan_payment'
       AND t.booked_at < l.next_month::timestamp AT TIME ZONE 'UTC'
    GROUP BY l.loan_id, l.account_id, l.principal, l.annual_rate, l.next_month, l.accrues_from
    ORDER BY l.loan_id
$$;

-- Charge a month's interest (bank.interest_due). Idempotent per loan and month: each charge
-- carries the reference interest:<loan>:<YYYY-MM>, unique in the ledger, so running the job again
-- charges nothing twice. A month is charged only once it is over by the bank's clock. An account
-- that cannot pay without going below its customer's minimum is not charged (outcome 'in
-- arrears': run the job again once it can); nor is a closed account. Returns one row per loan
-- that existed in the month.
CREATE OR REPLACE FUNCTION bank.accrue_interest(p_month date)
RETURNS TABLE (loan_id bigint, account_id bigint, days integer, owed numeric, annual_rate numeric,
               interest numeric, outcome text, transaction_id bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    first_day date := date_trunc('month', p_month)::date;
    next_month date := (date_trunc('month', p_month) + interval '1 month')::date;
    booking timestamptz;
BEGIN
    IF p_month IS NULL THEN
        RAISE EXCEPTION 'a month is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    booking := bank.booking_clock();
    IF (booking AT TIME ZONE 'UTC')::date < next_month THEN
        RAISE EXCEPTION 'interest for % can be charged from %, once the month is over; the bank''s clock says %',
            to_char(first_day, 'YYYY-MM'), next_month, booking USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the accounts to charge, locked in id order (the operations' order: no deadlock)
    PERFORM 1 FROM bank.accounts a
    WHERE a.account_id IN (SELECT l.account_id FROM bank.loans l WHERE l.start_date < next_month)
    ORDER BY a.account_id FOR UPDATE;
    RETURN QUERY
    WITH priced AS (
        SELECT d.*, format('interest:%s:%s', d.loan_id, to_char(first_day, 'YYYY-MM')) AS reference,
               a.balance, c.min_balance,
               a.closed_on IS NOT NULL AND a.closed_on <= (booking AT TIME ZONE 'UTC')::date AS closed
        FROM bank.interest_due(first_day) d JOIN bank.accounts a ON a.account_id = d.account_id
                                            JOIN bank.customers c ON c.customer_id = a.customer_id),
    known AS (
        SELECT p.*, (SELECT t.transaction_id FROM bank.transactions t   -- (the partial unique index)
                WHERE t.reference = p.reference AND t.kind = 'loan_interest') AS earlier
        FROM priced p),
    candidates AS (
        SELECT k.*, sum(k.interest) OVER (PARTITION BY k.account_id ORDER BY k.loan_id) AS running
        FROM known k WHERE k.interest > 0 AND k.earlier IS NULL AND NOT k.closed),
    charged AS (
        SELECT c.*, greatest(booking, (SELECT t.booked_at FROM bank.transactions t WHERE t.account_id = c.account_id
                                       ORDER BY t.transaction_id DESC LIMIT 1)) AS booked_at
        FROM candidates c WHERE c.balance - c.running >= c.min_balance),
    debited AS (
        UPDATE bank.accounts a SET balance = a.balance - s.total
        FROM (SELECT ch.account_id, sum(ch.interest) AS total FROM charged ch GROUP BY ch.account_id) s
        WHERE a.account_id = s.account_id RETURNING a.account_id),
    booked AS (
        INSERT INTO bank.transactions (account_id, kind, amount, balance_after, booked_at, reference, loan_id)
        SELECT ch.account_id, 'loan_interest', -ch.interest, ch.balance - ch.running, ch.booked_at,
               ch.reference, ch.loan_id
        FROM charged ch ORDER BY ch.account_id, ch.loan_id
        RETURNING bank.transactions.transaction_id, bank.transactions.loan_id)
    SELECT k.loan_id, k.account_id, k.days, k.owed, k.annual_rate, k.interest,
           CASE WHEN k.earlier IS NOT NULL THEN 'already charged'
                WHEN k.interest = 0 THEN 'nothing due'
                WHEN k.closed THEN 'account closed'
                WHEN b.transaction_id IS NOT NULL THEN 'charged'
                ELSE 'in arrears' END,
           coalesce(b.transaction_id, k.earlier)
    FROM known k LEFT JOIN booked b ON b.loan_id = k.loan_id
    ORDER BY k.loan_id;
END $$;

-- Everything the ledger must explain, as rows of (check, id, detail); empty when sound.
-- The first checks look for non-finite money: NaN = NaN is true in PostgreSQL, so a NaN balance
-- "equals" a NaN ledger sum and every `<>` comparison below would miss it (`IN ('NaN', ...)`
-- uses that same equality to find it).
CREATE OR REPLACE FUNCTION bank.ledger_breaks()
RETURNS TABLE (check_name text, id bigint, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, bank, pg_temp AS $$
    SELECT 'amounts are finite', t.transaction_id,
           format('ledger row: amount %s, balance_after %s', t.amount, t.balance_after)
    FROM bank.transactions t
    WHERE t.amount IN ('NaN', 'Infinity', '-Infinity') OR t.balance_after IN ('NaN', 'Infinity', '-Infinity')
    UNION ALL
    SELECT 'amounts are finite', a.account_id, format('account: balance %s', a.balance)
    FROM bank.accounts a WHERE a.balance IN ('NaN', 'Infinity', '-Infinity')
    UNION ALL
    SELECT 'amounts are finite', l.loan_id,
           format('loan: principal %s, outstanding %s, annual_rate %s', l.principal, l.outstanding, l.annual_rate)
    FROM bank.loans l
    WHERE l.principal IN ('NaN', 'Infinity', '-Infinity') OR l.outstanding IN ('NaN', 'Infinity', '-Infinity')
       OR l.annual_rate IN ('NaN', 'Infinity', '-Infinity')
    UNION ALL
    SELECT 'amounts are finite', c.customer_id, format('customer: min_balance %s', c.min_balance)
    FROM bank.customers c WHERE c.min_balance IN ('NaN', 'Infinity', '-Infinity')
    UNION ALL
    SELECT 'booking time is sane', t.transaction_id, format('booked at %s', t.booked_at)
    FROM bank.transactions t
    WHERE NOT (t.booked_at >= '1970-01-01 00:00:00+00' AND t.booked_at < '2200-01-01 00:00:00+00')
    UNION ALL
    SELECT 'booking times in order', t.transaction_id,
           format('booked at %s, before the previous row of account %s (%s)', t.booked_at, t.account_id, t.previous_at)
    FROM (SELECT transaction_id, account_id, booked_at,
                 lag(booked_at) OVER (PARTITION BY account_id ORDER BY transaction_id) AS previous_at
          FROM bank.transactions) t
    WHERE t.booked_at < t.previous_at
    UNION ALL
    SELECT 'check not validated', NULL::bigint,
           format('%s on %s: stored rows break it (enforced for new rows only)', k.conname, k.conrelid::regclass)
    FROM pg_catalog.pg_constraint k
    WHERE k.connamespace = 'bank'::regnamespace AND NOT k.convalidated
    UNION ALL
    SELECT 'balance = sum of ledger', a.account_id,
           format('balance %s, ledger sum %s', a.balance, coalesce(s.total, 0))
    FROM bank.accounts a LEFT JOIN (SELECT account_id, sum(amount) AS total FROM bank.transactions
                                    GROUP BY account_id) s USING (account_id)
    WHERE a.balance <> coalesce(s.total, 0)
    UNION ALL
    SELECT 'balance_after chain', t.transaction_id,
           format('balance_after %s, running sum %s', t.balance_after, t.running)
    FROM (SELECT transaction_id, balance_after,
                 sum(amount) OVER (PARTITION BY account_id ORDER BY transaction_id) AS running
          FROM bank.transactions) t
    WHERE t.balance_after <> t.running
    UNION ALL
    SELECT 'transfer legs pair up', o.transaction_id,
           format('debit %s, credit %s', o.amount, i.amount)
    FROM bank.transactions o LEFT JOIN bank.transactions i ON i.counterpart_id = o.transaction_id
    WHERE o.kind = 'transfer_out' AND (i.transaction_id IS NULL OR i.amount <> -o.amount
                                       OR i.reference IS DISTINCT FROM o.reference)
    UNION ALL
    SELECT 'credit points at a debit', i.transaction_id, 'counterpart is not a transfer_out'
    FROM bank.transactions i JOIN bank.transactions o ON o.transaction_id = i.counterpart_id
    WHERE o.kind <> 'transfer_out'
    UNION ALL
    SELECT 'loan outstanding = principal - payments', l.loan_id,
           format('outstanding %s, principal %s, paid %s', l.outstanding, l.principal, coalesce(p.paid, 0))
    FROM bank.loans l LEFT JOIN (SELECT loan_id, -sum(amount) AS paid FROM bank.transactions
                                 WHERE kind = 'loan_payment' GROUP BY loan_id) p USING (loan_id)
    WHERE l.outstanding <> l.principal - coalesce(p.paid, 0)
    UNION ALL
    SELECT 'balance >= customer minimum', a.account_id,
           format('balance %s, minimum %s', a.balance, c.min_balance)
    FROM bank.accounts a JOIN bank.customers c USING (customer_id)
    WHERE a.balance < c.min_balance
    ORDER BY 1, 2
$$;

-- Checks added NOT VALID by an upgrade (schema.sql) are validated here once no stored row breaks
-- them; the others stay NOT VALID -- enforced for new rows -- and are named in a WARNING and in
-- bank.ledger_breaks(). Returns the checks left unvalidated. bank.populate calls it after a load.
CREATE OR REPLACE FUNCTION bank._validate_checks() RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, bank, pg_temp AS $$
DECLARE
    pending record;
    left_over text[] := '{}';
BEGIN
    FOR pending IN SELECT k.conname, k.conrelid::regclass AS tbl FROM pg_catalog.pg_constraint k
                   WHERE k.connamespace = 'bank'::regnamespace AND NOT k.convalidated
                   ORDER BY k.conrelid::regclass::text, k.conname LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', pending.tbl, pending.conname);
        EXCEPTION WHEN check_violation OR foreign_key_violation THEN
            left_over := left_over || pending.conname::text;
        END;
    END LOOP;
    IF cardinality(left_over) > 0 THEN
        RAISE WARNING 'bank: stored rows break % (% row(s) with NaN or Infinity money, % booked at an impossible time); these checks stay NOT VALID (enforced for new rows)',
            array_to_string(left_over, ', '),
            (SELECT count(*) FROM bank.ledger_breaks() b WHERE b.check_name = 'amounts are finite'),
            (SELECT count(*) FROM bank.ledger_breaks() b WHERE b.check_name = 'booking time is sane')
            USING HINT = 'SELECT * FROM bank.ledger_breaks() lists them; bank.populate replaces the data';
    END IF;
    RETURN left_over;
END $$;

-- Every function of the bank pins its search_path (above, in its definition; here, any left by an
-- older version): pg_catalog first, then bank -- which only bank_owner can create in -- and the
-- session's temporary schema last, so no table, function, operator or cast a caller made
-- (in public, in a schema of its own, in pg_temp, or through ALTER ROLE/DATABASE ... SET
-- search_path) is ever what a bank function's body means. SQL functions with a SET clause are
-- never inlined into the caller's query, so ledger_breaks() is planned with this path too.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS name, p.prokind FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'bank'::regnamespace AND p.prokind IN ('f', 'p')
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c(setting)
                               WHERE c.setting LIKE 'search\_path=%') LOOP
        EXECUTE format('ALTER %s %s SET search_path = pg_catalog, bank, pg_temp',
                       CASE f.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, f.name);
    END LOOP;
END $$;

SELECT bank._validate_checks();
