-- Up Migration
-- Split rules given with CreatePayment (core/splits/rules.ts): kept by payment until the payment
-- is paid, then applied once as a split (split_id set) by the split module's sweep.
CREATE TABLE split_rules (
  payment_id text PRIMARY KEY,
  merchant_id text NOT NULL,
  rules jsonb NOT NULL,
  split_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX split_rules_open ON split_rules (created_at) WHERE split_id IS NULL;

-- Down Migration
DROP TABLE split_rules;
