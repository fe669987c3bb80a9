-- Transactional outbox: events are written with the business change and published
-- at least once by the service's publisher (FOR UPDATE SKIP LOCKED, exponential backoff).
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  topic text NOT NULL,
  payload jsonb NOT NULL,
  -- The application's clock when the event happened; created_at is the database's.
  occurred_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text
);

CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE published_at IS NULL;
