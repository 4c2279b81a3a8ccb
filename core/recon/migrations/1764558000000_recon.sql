-- Up Migration
-- Reconciliation (core/recon/README.md): the statements as downloaded, their normalised rows,
-- one run record per channel and day, the pool each run leaves, and the differences with
-- their audit trail. Applied after the books' migrations (same database).

CREATE TABLE recon_statements (
  statement_id bigserial PRIMARY KEY,
  channel_id text NOT NULL,
  statement_date date NOT NULL,
  -- How the bytes are written: bankgw (the bank's CSV), recon (normalised rows), wechatpay, alipay.
  format text NOT NULL,
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  bytes bytea NOT NULL,
  fetched_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (channel_id, statement_date, sha256)
);

-- The statement's rows, normalised (core/recon/types.ts ReconRow), for queries and reports.
CREATE TABLE recon_statement_rows (
  statement_id bigint NOT NULL REFERENCES recon_statements (statement_id),
  line_no int NOT NULL,
  kind text NOT NULL CHECK (kind IN ('payment', 'refund')),
  grp text NOT NULL,
  ref text NOT NULL,
  trade_no text NOT NULL,
  amount_minor bigint NOT NULL,
  fee_minor bigint,
  currency text NOT NULL,
  PRIMARY KEY (statement_id, line_no)
);

-- One per channel and day: what the last complete run found. A run commits its pool, its
-- differences, its postings and this row in one transaction: a crash leaves the day as it was.
CREATE TABLE recon_runs (
  channel_id text NOT NULL,
  business_date date NOT NULL,
  statement_id bigint NOT NULL REFERENCES recon_statements (statement_id),
  runs int NOT NULL DEFAULT 1,
  channel_rows bigint NOT NULL,
  ours_rows bigint NOT NULL,
  matched_count bigint NOT NULL,
  matched_channel_minor bigint NOT NULL,
  matched_ours_minor bigint NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel_id, business_date)
);

-- The rows a run left unmatched and not yet old enough to be differences: the next day's run
-- reads the pool of the latest earlier run.
CREATE TABLE recon_pool (
  channel_id text NOT NULL,
  after_date date NOT NULL,
  side text NOT NULL CHECK (side IN ('C', 'O')),
  kind text NOT NULL,
  grp text NOT NULL,
  ref text NOT NULL,
  trade_no text NOT NULL,
  amount_minor bigint NOT NULL,
  fee_minor bigint,
  currency text NOT NULL,
  status text NOT NULL,
  row_date date NOT NULL
);
CREATE INDEX recon_pool_run ON recon_pool (channel_id, after_date);

CREATE TABLE recon_differences (
  difference_id bigserial PRIMARY KEY,
  -- Idempotency: <channel>:<date>:<class>:<kind>:<group>; a re-run finds it and adds nothing.
  difference_key text NOT NULL UNIQUE,
  channel_id text NOT NULL,
  business_date date NOT NULL,
  class text NOT NULL CHECK (class IN ('CHANNEL_ONLY', 'OURS_ONLY', 'AMOUNT_MISMATCH', 'FEE_MISMATCH', 'STATUS_MISMATCH', 'CUTOFF_SHIFT', 'PAID_TWICE')),
  kind text NOT NULL,
  grp text NOT NULL,
  merchant_id text,
  payment_id text,
  currency text NOT NULL,
  channel_minor bigint NOT NULL,
  ours_minor bigint NOT NULL,
  -- What was held in suspense (挂账) for it (0: nothing).
  suspense_minor bigint NOT NULL DEFAULT 0,
  -- open: waiting for an action or an operator; suspense: held in suspense until resolved;
  -- resolved: closed (by itself, an automatic action or an operator, see the trail).
  state text NOT NULL CHECK (state IN ('open', 'suspense', 'resolved')),
  -- What was or is to be done: none, suspense, apply (补单), refund_duplicate, reverse, investigate.
  action text NOT NULL,
  -- The rows on each side, as JSON (amounts as decimal strings).
  detail jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  resolution text
);
CREATE INDEX recon_differences_day ON recon_differences (channel_id, business_date);
CREATE INDEX recon_differences_open ON recon_differences (state) WHERE state <> 'resolved';

-- The audit trail: every change of a difference, by whom and why. Append-only.
CREATE TABLE recon_difference_events (
  difference_id bigint NOT NULL REFERENCES recon_differences (difference_id),
  seq int NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  from_state text,
  to_state text NOT NULL,
  note text NOT NULL,
  PRIMARY KEY (difference_id, seq)
);
CREATE FUNCTION recon_trail_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the reconciliation trail is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER recon_difference_events_immutable BEFORE UPDATE OR DELETE ON recon_difference_events FOR EACH ROW EXECUTE FUNCTION recon_trail_immutable();

-- Down Migration
DROP TABLE recon_difference_events, recon_differences, recon_pool, recon_runs, recon_statement_rows, recon_statements;
DROP FUNCTION recon_trail_immutable;
