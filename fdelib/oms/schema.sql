-- The order-management system's data (schema `oms`). Idempotent.
-- Each service owns its tables; they share one database here to keep the course small.
SELECT pg_advisory_xact_lock(hashtext('fdelib.oms.setup'));

CREATE SCHEMA IF NOT EXISTS oms;

CREATE TABLE IF NOT EXISTS oms.customers (
    customer_id text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE
);

-- stock and inventory service
CREATE TABLE IF NOT EXISTS oms.products (
    sku      text PRIMARY KEY,
    name     text NOT NULL,
    price    numeric(12,2) NOT NULL CHECK (price > 0),
    stock    integer NOT NULL CONSTRAINT products_stock_never_negative CHECK (stock >= 0)
);

-- order acknowledgement service
CREATE TABLE IF NOT EXISTS oms.orders (
    order_id     text PRIMARY KEY,                  -- the client's order id (idempotency key)
    customer_id  text NOT NULL REFERENCES oms.customers,
    amount       numeric(12,2) NOT NULL CHECK (amount > 0),
    address      text NOT NULL,
    status       text NOT NULL CHECK (status IN ('ACKNOWLEDGED', 'COMPLETED', 'CANCELLED')),
    fault        text,                              -- the fault a lesson injects, if any
    received_at  timestamptz NOT NULL,
    closed_at    timestamptz,
    reason       text
);

CREATE TABLE IF NOT EXISTS oms.order_items (
    order_id text NOT NULL REFERENCES oms.orders ON DELETE CASCADE,
    sku      text NOT NULL REFERENCES oms.products,
    quantity integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);

-- payment service: at most one charge and one refund per order, whatever the retries
CREATE TABLE IF NOT EXISTS oms.payments (
    payment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   text NOT NULL REFERENCES oms.orders ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('charge', 'refund', 'declined')),
    amount     numeric(12,2) NOT NULL CHECK (amount >= 0),
    attempt    integer NOT NULL,                    -- Conductor's retryCount of the task that booked it
    CONSTRAINT payments_once UNIQUE (order_id, kind)
);

-- stock bookings: one per order and product; released, never deleted
CREATE TABLE IF NOT EXISTS oms.stock_bookings (
    order_id text NOT NULL REFERENCES oms.orders ON DELETE CASCADE,
    sku      text NOT NULL REFERENCES oms.products,
    quantity integer NOT NULL CHECK (quantity > 0),
    status   text NOT NULL CHECK (status IN ('BOOKED', 'RELEASED')),
    PRIMARY KEY (order_id, sku)
);

-- delivery scheduling service
CREATE TABLE IF NOT EXISTS oms.deliveries (
    order_id      text PRIMARY KEY REFERENCES oms.orders ON DELETE CASCADE,
    carrier       text NOT NULL,
    tracking      text NOT NULL UNIQUE,
    expected_on   date NOT NULL,
    status        text NOT NULL CHECK (status IN ('SCHEDULED', 'CANCELLED'))
);

-- notification service: one message per order and stage
CREATE TABLE IF NOT EXISTS oms.notifications (
    order_id text NOT NULL REFERENCES oms.orders ON DELETE CASCADE,
    stage    text NOT NULL,
    message  text NOT NULL,
    PRIMARY KEY (order_id, stage)
);

-- faults that fire once (a worker that dies the first time it sees an order)
CREATE TABLE IF NOT EXISTS oms.fired_faults (
    order_id text NOT NULL,
    fault    text NOT NULL,
    PRIMARY KEY (order_id, fault)
);

-- choreography: the events services publish and react to
CREATE TABLE IF NOT EXISTS oms.events (
    event_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  text NOT NULL,
    kind      text NOT NULL,
    source    text NOT NULL,
    handled   boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS events_pending_idx ON oms.events (event_id) WHERE NOT handled;

-- order acknowledgement: the workflow that placed each order (only it may act on the order),
-- the catalogue price each item was sold at, and every workflow that named an order id
-- (its first placement and each replay: the audit checks how each of them ended)
ALTER TABLE oms.orders ADD COLUMN IF NOT EXISTS workflow_id text;
ALTER TABLE oms.orders ADD COLUMN IF NOT EXISTS outcome jsonb;   -- what the workflow answered when it closed
ALTER TABLE oms.order_items ADD COLUMN IF NOT EXISTS unit_price numeric(12,2);
CREATE TABLE IF NOT EXISTS oms.order_requests (
    order_id    text NOT NULL REFERENCES oms.orders ON DELETE CASCADE,
    workflow_id text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('PLACED', 'REPLAYED')),
    PRIMARY KEY (order_id, workflow_id)
);

-- money is a finite number: PostgreSQL's numeric holds NaN, and NaN > 0 is true
DO $$
DECLARE
    money record;
BEGIN
    FOR money IN SELECT * FROM (VALUES ('products', 'price'), ('orders', 'amount'), ('order_items', 'unit_price'),
                                       ('payments', 'amount')) AS m (tab, col) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = format('oms.%I', money.tab)::regclass
                       AND conname = format('%s_%s_is_a_number', money.tab, money.col)) THEN
            EXECUTE format('ALTER TABLE oms.%I ADD CONSTRAINT %I CHECK (%I <> ''NaN'')',
                           money.tab, format('%s_%s_is_a_number', money.tab, money.col), money.col);
        END IF;
    END LOOP;
END $$;
