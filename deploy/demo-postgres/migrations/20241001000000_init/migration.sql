-- Positions and orders of the demo trading service. Money is numeric, never float.
CREATE TABLE positions (
  id bigserial PRIMARY KEY,
  account_id text NOT NULL,
  symbol text NOT NULL CHECK (symbol = upper(symbol)),
  -- NULL for a manual position (no strategy placed it).
  strategy_id text,
  quantity numeric(20, 0) NOT NULL DEFAULT 0,
  average_price numeric(20, 4) NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  account_id text NOT NULL,
  symbol text NOT NULL,
  side text NOT NULL CHECK (side IN ('buy', 'sell')),
  quantity numeric(20, 0) NOT NULL,
  price numeric(20, 4) NOT NULL,
  notional numeric(24, 4) NOT NULL,
  idempotency_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
