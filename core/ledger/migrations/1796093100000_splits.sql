-- Up Migration
-- Splits (分账, core/splits/README.md): a merchant shares part of a paid payment with receivers.
-- Each receiver's share sits in a split_receiver account (owner '<merchant_id>/<receiver_id>').
-- splits is the query side (ListSplits) of what the split's event log holds; split_receivers
-- holds each allocated share and how much of it a refund has returned (分账回退); split_returns
-- holds each return, so that a refund that fails gives the share back to its receiver.

INSERT INTO chart (code, name, normal_side, floor_minor) VALUES
  ('split_receiver', '分账接收方 split receiver', 'credit', NULL);

CREATE TABLE splits (
  split_id text PRIMARY KEY,
  merchant_id text NOT NULL,
  merchant_split_no text NOT NULL,
  payment_id text NOT NULL,
  status text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  failure_code text,
  version int NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (merchant_id, merchant_split_no)
);
CREATE INDEX splits_merchant_created ON splits (merchant_id, created_at DESC, split_id DESC);

-- One row per receiver of an allocated split: written in the transaction that posts its share.
CREATE TABLE split_receivers (
  split_id text NOT NULL,
  line_no int NOT NULL,
  payment_id text NOT NULL,
  receiver_id text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  returned_minor bigint NOT NULL DEFAULT 0,
  allocated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (split_id, line_no),
  CONSTRAINT returned_within_share CHECK (returned_minor >= 0 AND returned_minor <= amount_minor)
);
CREATE INDEX split_receivers_payment ON split_receivers (payment_id, allocated_at, split_id, line_no);

CREATE TABLE split_returns (
  refund_id text NOT NULL,
  split_id text NOT NULL,
  line_no int NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  reversed boolean NOT NULL DEFAULT false,
  PRIMARY KEY (refund_id, split_id, line_no)
);

-- Down Migration
DROP TABLE split_returns;
DROP TABLE split_receivers;
DROP TABLE splits;
DELETE FROM chart WHERE code = 'split_receiver';
