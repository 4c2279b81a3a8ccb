-- Up Migration
-- The query side of payouts (core/payouts): one row per payout, the latest state its service
-- wrote (JetStream holds the payout's events; this table serves ListPayouts). The payee is not
-- here: only the last four digits of its account.

CREATE TABLE payouts (
  payout_id text PRIMARY KEY,
  merchant_id text NOT NULL,
  merchant_payout_no text NOT NULL,
  status text NOT NULL,
  channel_id text NOT NULL,
  bank_code text NOT NULL,
  payee_last4 text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  failure_code text,
  version int NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (merchant_id, merchant_payout_no)
);
CREATE INDEX payouts_merchant_created ON payouts (merchant_id, created_at DESC, payout_id DESC);

-- Down Migration
DROP TABLE payouts;
