-- One position per (account, symbol, strategy), and one manual position (no strategy)
-- per (account, symbol). A plain UNIQUE (account_id, symbol, strategy_id) would let any
-- number of manual positions in, because NULLs are distinct: two partial indexes close it.
CREATE UNIQUE INDEX positions_account_symbol_strategy_key
  ON positions (account_id, symbol, strategy_id) WHERE strategy_id IS NOT NULL;
CREATE UNIQUE INDEX positions_account_symbol_manual_key
  ON positions (account_id, symbol) WHERE strategy_id IS NULL;
