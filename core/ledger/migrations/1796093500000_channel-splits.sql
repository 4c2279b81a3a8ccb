-- Up Migration
-- Splits made at the channel (WeChat Pay 分账, core/splits/README.md): a share allocated for a
-- split the provider is still making is in flight (held in the receiver's account, returned
-- if the provider closes it); a channel share goes back to the merchant only through the
-- provider (a return before the refund), never by the projection of a refund.
ALTER TABLE split_receivers ADD COLUMN channel_id text, ADD COLUMN in_flight boolean NOT NULL DEFAULT false;

-- A refund of a channel-split payment, claimed when its shares are taken back (before the
-- refund reaches the orders actor and the projection): a split's limit counts it until the
-- refund itself is in the books, so a split cannot take what the returns freed for the refund.
CREATE TABLE channel_refund_claims (
  refund_id text PRIMARY KEY,
  payment_id text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0)
);
CREATE INDEX channel_refund_claims_payment ON channel_refund_claims (payment_id);

-- Down Migration
DROP TABLE channel_refund_claims;
ALTER TABLE split_receivers DROP COLUMN in_flight, DROP COLUMN channel_id;
