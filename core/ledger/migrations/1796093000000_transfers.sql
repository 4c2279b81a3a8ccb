-- Up Migration
-- Transfers between two merchants of one group (core/payouts/transfers.ts): one row per
-- transfer, written in the transaction that posts it (TRANSFER: the payer's available balance
-- to the payee's), so a transfer is either both or neither.

CREATE TABLE transfers (
  transfer_id text PRIMARY KEY,
  merchant_id text NOT NULL,
  merchant_transfer_no text NOT NULL,
  to_merchant_id text NOT NULL CHECK (to_merchant_id <> merchant_id),
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  memo text NOT NULL,
  -- The business date it counts against the daily limit on.
  business_date date NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (merchant_id, merchant_transfer_no)
);
CREATE INDEX transfers_daily ON transfers (merchant_id, currency, business_date);

-- Down Migration
DROP TABLE transfers;
