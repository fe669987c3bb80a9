-- The broken variant of the demo database (spark_demo_broken), for the checks' negative
-- tests. demo/migrate.ts --broken applies every migration but the last one, then this:
-- each block below is one mistake a release engineer must hear about.

-- The naive index the partial ones replace (their migration is pending): NULL strategies
-- are distinct, so any number of manual positions per account and symbol slip through.
CREATE UNIQUE INDEX positions_account_symbol_strategy_naive ON positions (account_id, symbol, strategy_id);

-- A database host whose clock runs 5 s ahead, as every client reading clock_timestamp() sees it.
CREATE SCHEMA clock_skew;
CREATE FUNCTION clock_skew.clock_timestamp() RETURNS timestamptz LANGUAGE sql VOLATILE
  AS $$ SELECT pg_catalog.clock_timestamp() + interval '5 seconds' $$;
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path = clock_skew, pg_catalog, public', current_database());
END $$;

-- Idempotency keys that live 1 hour instead of 48, and a garbage collector that stopped.
ALTER TABLE idempotency_keys ALTER COLUMN expires_at SET DEFAULT now() + interval '1 hour';
INSERT INTO idempotency_keys (key, request_sha256, created_at, expires_at)
  SELECT 'stale-' || g, md5(g::text), now() - interval '3 days', now() - interval '1 day'
  FROM generate_series(1, 500) g;

-- An outbox whose publisher stalled 10 minutes ago, fed by a node whose clock runs 5 s behind,
-- and whose last deliveries took 30 s (a publisher backoff that is far too long).
INSERT INTO outbox (topic, payload, occurred_at, created_at)
  SELECT 'order.accepted', jsonb_build_object('n', g),
         now() - interval '10 minutes' - interval '5 seconds', now() - interval '10 minutes'
  FROM generate_series(1, 50) g;
INSERT INTO outbox (topic, payload, occurred_at, created_at, published_at, attempts)
  SELECT 'order.accepted', jsonb_build_object('n', g),
         now() - interval '20 minutes' - interval '5 seconds', now() - interval '20 minutes',
         now() - interval '20 minutes' + interval '30 seconds', 4
  FROM generate_series(51, 150) g;
-- Autovacuum switched off on the busiest table.
ALTER TABLE outbox SET (autovacuum_enabled = false);

-- A sequence behind its table (rows were copied in with their ids): the next order collides.
INSERT INTO orders (id, account_id, symbol, side, quantity, price, notional, idempotency_key)
  SELECT g, 'acc-1', 'THYAO', 'buy', 1, 100, 100, 'copied-' || g FROM generate_series(1, 20) g;
