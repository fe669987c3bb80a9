-- First writer wins: INSERT ... ON CONFLICT (key) DO NOTHING admits one request per key.
-- Keys live 48 h; the service's garbage collector deletes expired ones (index below).
CREATE TABLE idempotency_keys (
  key text PRIMARY KEY,
  request_sha256 text NOT NULL,
  response_status integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL DEFAULT now() + interval '48 hours'
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
