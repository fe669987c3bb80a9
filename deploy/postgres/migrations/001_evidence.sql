-- The evidence ledger: one hash-chained, append-only sequence of records per
-- release. Format, chain encoding and manual verification: docs/evidence.md.
CREATE TABLE evidence (
  release     text        NOT NULL,
  seq         integer     NOT NULL CHECK (seq >= 1),
  run_id      text        NOT NULL,
  key         text        NOT NULL,
  file        text        NOT NULL,
  kind        text        NOT NULL,
  mode        text        NOT NULL CHECK (mode IN ('replace', 'append')),
  body        text        NOT NULL,
  body_sha256 text        NOT NULL CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
  prev_hash   text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  chain_hash  text        NOT NULL CHECK (chain_hash ~ '^[0-9a-f]{64}$'),
  -- Whole milliseconds, so the text form in the chain hash round-trips exactly.
  recorded_at timestamptz NOT NULL CHECK (recorded_at = date_trunc('milliseconds', recorded_at)),
  PRIMARY KEY (release, seq),
  UNIQUE (release, key)
);

-- The mirror reads a release's records file by file.
CREATE INDEX evidence_release_file_seq ON evidence (release, file, seq);

-- Recorded evidence is never changed: tampering needs a deliberate
-- `ALTER TABLE evidence DISABLE TRIGGER evidence_append_only` (or a superuser's
-- session_replication_role = replica), and the chain still reveals it.
CREATE FUNCTION evidence_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'evidence is append-only: % on evidence is not allowed', TG_OP
    USING ERRCODE = 'restrict_violation',
          HINT = 'Record a new piece of evidence instead of changing a recorded one.';
END
$$;

CREATE TRIGGER evidence_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON evidence
  FOR EACH STATEMENT EXECUTE FUNCTION evidence_reject_change();
