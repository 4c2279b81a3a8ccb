-- Up Migration
-- Settlement payouts (core/payouts/settlement.ts): where each merchant's settled money is paid
-- (its settlement account; the payee sealed with the data key, only the last four digits in
-- clear), and one row per settlement batch paid out: its attempts so far and the current one.

CREATE TABLE settlement_accounts (
  merchant_id text PRIMARY KEY,
  channel_id text NOT NULL,
  bank_code text NOT NULL,
  payee_sealed text NOT NULL,
  payee_last4 text NOT NULL,
  -- Batches created from this instant on are paid out; earlier ones are not.
  since timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE settlement_payouts (
  batch_id bigint PRIMARY KEY REFERENCES settlement_batches (batch_id),
  merchant_id text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  payout_id text,
  status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'PAID')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settlement_payouts_merchant ON settlement_payouts (merchant_id, created_at DESC);

-- Down Migration
DROP TABLE settlement_payouts;
DROP TABLE settlement_accounts;
