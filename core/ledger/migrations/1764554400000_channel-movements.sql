-- Up Migration
-- The query side reconciliation reads (core/recon/README.md): every money movement a channel
-- should list, as the books know it — a paid attempt, an attempt not paid (failed, closed or
-- still open), a second payment of an order (a duplicate), a refund — with the channel's
-- numbers, written by the projection in the transaction that posts the message.

CREATE TABLE channel_movements (
  -- The attempt id; <attempt id>:<channel trade no> for a duplicate; the refund id.
  movement_key text PRIMARY KEY,
  channel_id text NOT NULL,
  -- The calendar day (in the books' time zone) it happened: paid, refunded, or asked for.
  business_date date NOT NULL,
  kind text NOT NULL CHECK (kind IN ('payment', 'refund')),
  -- The order on the channel (the attempt id); our id (attempt or refund id); the channel's
  -- trade or refund number ('' not known).
  grp text NOT NULL,
  ref text NOT NULL,
  trade_no text NOT NULL DEFAULT '',
  payment_id text NOT NULL,
  merchant_id text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
  -- What the channel charges (routing's fee rule); NULL: not known.
  fee_minor bigint,
  -- S: paid / refunded; F: not (failed, closed, open); D: a duplicate payment.
  status text NOT NULL CHECK (status IN ('S', 'F', 'D')),
  version int NOT NULL
);
CREATE INDEX channel_movements_day ON channel_movements (channel_id, business_date);

-- Down Migration
DROP TABLE channel_movements;
