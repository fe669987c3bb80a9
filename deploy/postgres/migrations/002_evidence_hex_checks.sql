-- The same rule for the three hash columns (64 characters, each 0-9 or a-f) as a
-- length and a negated class: PostgreSQL's regex engine took ~23 ms of a 57 ms
-- COPY of 1,000 records in '^[0-9a-f]{64}$' (a bounded repetition), ~3 ms in
-- this form (docs/benchmarks.md, "Evidence ledger"). Existing rows are re-checked.
ALTER TABLE evidence
  DROP CONSTRAINT evidence_body_sha256_check,
  DROP CONSTRAINT evidence_prev_hash_check,
  DROP CONSTRAINT evidence_chain_hash_check,
  ADD CONSTRAINT evidence_body_sha256_check CHECK (length(body_sha256) = 64 AND body_sha256 !~ '[^0-9a-f]'),
  ADD CONSTRAINT evidence_prev_hash_check CHECK (length(prev_hash) = 64 AND prev_hash !~ '[^0-9a-f]'),
  ADD CONSTRAINT evidence_chain_hash_check CHECK (length(chain_hash) = 64 AND chain_hash !~ '[^0-9a-f]');
