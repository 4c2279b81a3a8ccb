-- Up Migration
-- The books (core/ledger/README.md): a chart of accounts, a double-entry journal whose every
-- entry balances (a deferred constraint trigger, so no code path can write a lopsided entry),
-- account balances kept by trigger with floors the database enforces, the projection's
-- progress, the query side of payments and refunds, settlement, holds and day-end closes.

CREATE TABLE chart (
  code text PRIMARY KEY,
  name text NOT NULL,
  -- debit: the balance is Σ debit − Σ credit (assets, expenses); credit: Σ credit − Σ debit.
  normal_side text NOT NULL CHECK (normal_side IN ('debit', 'credit')),
  -- The lowest balance an account of this code may hold; NULL: no floor.
  floor_minor bigint
);

INSERT INTO chart (code, name, normal_side, floor_minor) VALUES
  ('channel_receivable', '渠道应收 channel clearing receivable', 'debit', NULL),
  ('merchant_pending', '待结算 merchant pending', 'credit', 0),
  ('merchant_available', '可用 merchant available', 'credit', NULL),
  ('merchant_frozen', '冻结 merchant frozen', 'credit', 0),
  ('fee_income', '手续费收入 platform fee income', 'credit', NULL),
  ('channel_fee_expense', '渠道成本 channel fee expense', 'debit', NULL),
  ('refunds_in_transit', '退款在途 refunds in transit', 'credit', 0),
  ('suspense', '挂账 suspense', 'credit', NULL);

CREATE TABLE accounts (
  account_id bigserial PRIMARY KEY,
  code text NOT NULL REFERENCES chart (code),
  -- The merchant, the channel or 'platform'.
  owner text NOT NULL,
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  balance_minor bigint NOT NULL DEFAULT 0,
  floor_minor bigint,
  UNIQUE (code, owner, currency),
  CONSTRAINT balance_above_floor CHECK (floor_minor IS NULL OR balance_minor >= floor_minor)
);

CREATE TABLE journal_entries (
  entry_id bigserial PRIMARY KEY,
  -- The idempotency key: <payment_id>:<version>:<txn_code> for what the event log caused,
  -- settle:/hold:/release: for what operators and the settlement run cause.
  entry_key text NOT NULL UNIQUE,
  txn_code text NOT NULL,
  merchant_id text,
  payment_id text,
  ref_id text,
  currency text NOT NULL,
  business_date date NOT NULL,
  -- The PAY_EVENTS stream sequence that caused it (NULL for settlement and holds).
  stream_seq bigint,
  posted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_entries_date ON journal_entries (business_date);
CREATE INDEX journal_entries_payment ON journal_entries (payment_id);

CREATE TABLE journal_lines (
  entry_id bigint NOT NULL REFERENCES journal_entries (entry_id),
  line_no int NOT NULL,
  account_id bigint NOT NULL REFERENCES accounts (account_id),
  debit_minor bigint NOT NULL DEFAULT 0 CHECK (debit_minor >= 0),
  credit_minor bigint NOT NULL DEFAULT 0 CHECK (credit_minor >= 0),
  PRIMARY KEY (entry_id, line_no),
  CONSTRAINT one_side CHECK ((debit_minor > 0) <> (credit_minor > 0))
);
CREATE INDEX journal_lines_account ON journal_lines (account_id, entry_id);

-- A line moves its account's balance at once, so the floor CHECK refuses an overdraft in the
-- statement that causes it.
CREATE FUNCTION ledger_apply_line() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE accounts a SET balance_minor = a.balance_minor +
    CASE WHEN c.normal_side = 'debit' THEN NEW.debit_minor - NEW.credit_minor ELSE NEW.credit_minor - NEW.debit_minor END
  FROM chart c WHERE a.account_id = NEW.account_id AND c.code = a.code;
  RETURN NEW;
END $$;
CREATE TRIGGER journal_lines_apply AFTER INSERT ON journal_lines FOR EACH ROW EXECUTE FUNCTION ledger_apply_line();

-- Σ debit = Σ credit per entry, with at least two lines, checked at commit: the lines of one
-- entry are inserted one by one, so the check must wait for the last.
CREATE FUNCTION ledger_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  debits bigint; credits bigint; lines int;
BEGIN
  SELECT coalesce(sum(debit_minor), 0), coalesce(sum(credit_minor), 0), count(*) INTO debits, credits, lines
    FROM journal_lines WHERE entry_id = NEW.entry_id;
  IF lines < 2 OR debits <> credits THEN
    RAISE EXCEPTION 'journal entry % does not balance: debits %, credits %, lines %', NEW.entry_id, debits, credits, lines
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entries_balance AFTER INSERT ON journal_entries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry();
CREATE CONSTRAINT TRIGGER journal_lines_balance AFTER INSERT ON journal_lines
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry();

-- The journal is append-only: a correction is a new entry.
CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the journal is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER journal_lines_immutable BEFORE UPDATE OR DELETE ON journal_lines FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Where each projection got to in its stream: advanced in the transaction that posts.
CREATE TABLE projection_progress (
  consumer text PRIMARY KEY,
  stream_seq bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per-merchant book settings (defaults apply to a merchant without a row).
CREATE TABLE merchant_settings (
  merchant_id text PRIMARY KEY,
  -- T+N: pending becomes available N business days after the payment's day.
  settlement_days int NOT NULL DEFAULT 1 CHECK (settlement_days BETWEEN 0 AND 30),
  -- returned: a refund gives back the refunded share of the merchant fee; kept: it does not.
  refund_fee_policy text NOT NULL DEFAULT 'kept' CHECK (refund_fee_policy IN ('kept', 'returned')),
  -- refuse: a refund beyond the available balance is refused; overdraft: allowed down to
  -- −overdraft_limit_minor.
  refund_funding text NOT NULL DEFAULT 'refuse' CHECK (refund_funding IN ('refuse', 'overdraft')),
  overdraft_limit_minor bigint NOT NULL DEFAULT 0 CHECK (overdraft_limit_minor >= 0)
);

-- The query side: one row per payment and per refund, the latest state the projection saw.
CREATE TABLE payments (
  payment_id text PRIMARY KEY,
  merchant_id text NOT NULL,
  merchant_order_no text NOT NULL,
  status text NOT NULL,
  product text NOT NULL,
  channel_id text,
  currency text NOT NULL,
  amount_minor bigint NOT NULL,
  refunded_minor bigint NOT NULL,
  merchant_fee_minor bigint NOT NULL,
  version int NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  paid_at timestamptz
);
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at DESC, payment_id DESC);

CREATE TABLE refunds (
  refund_id text PRIMARY KEY,
  payment_id text NOT NULL,
  merchant_id text NOT NULL,
  merchant_refund_no text NOT NULL,
  kind text NOT NULL,
  state text NOT NULL,
  channel_id text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX refunds_merchant_created ON refunds (merchant_id, created_at DESC, refund_id DESC);

-- Settlement: a batch moves a merchant's pending lines of past business days to available.
CREATE TABLE settlement_batches (
  batch_id bigserial PRIMARY KEY,
  merchant_id text NOT NULL,
  currency text NOT NULL,
  cutoff_date date NOT NULL,
  amount_minor bigint NOT NULL,
  entry_id bigint REFERENCES journal_entries (entry_id),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Each pending line is settled once.
CREATE TABLE settlement_lines (
  batch_id bigint NOT NULL REFERENCES settlement_batches (batch_id),
  entry_id bigint NOT NULL,
  line_no int NOT NULL,
  amount_minor bigint NOT NULL,
  PRIMARY KEY (entry_id, line_no),
  FOREIGN KEY (entry_id, line_no) REFERENCES journal_lines (entry_id, line_no)
);

-- Holds an operator placed (available → frozen) and released.
CREATE TABLE holds (
  hold_id text PRIMARY KEY,
  merchant_id text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  reason text NOT NULL,
  placed_at timestamptz NOT NULL DEFAULT now(),
  released_at timestamptz
);

-- Day-end close (日切): balances per account at the end of a business day, frozen.
CREATE TABLE day_closes (
  business_date date PRIMARY KEY,
  closed_at timestamptz NOT NULL DEFAULT now(),
  debit_total_minor bigint NOT NULL,
  credit_total_minor bigint NOT NULL,
  CONSTRAINT trial_balance CHECK (debit_total_minor = credit_total_minor)
);
CREATE TABLE account_day_balances (
  business_date date NOT NULL REFERENCES day_closes (business_date),
  account_id bigint NOT NULL REFERENCES accounts (account_id),
  debit_minor bigint NOT NULL,
  credit_minor bigint NOT NULL,
  balance_minor bigint NOT NULL,
  PRIMARY KEY (business_date, account_id)
);

-- Down Migration
DROP TABLE account_day_balances, day_closes, holds, settlement_lines, settlement_batches, refunds, payments,
  merchant_settings, projection_progress, journal_lines, journal_entries, accounts, chart;
DROP FUNCTION ledger_apply_line, ledger_check_entry, ledger_immutable;
