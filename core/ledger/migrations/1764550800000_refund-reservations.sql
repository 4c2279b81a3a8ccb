-- Up Migration
-- Refunds accepted by the funding check (LedgerStore.reserveRefund) and not yet posted by the
-- projection: counted against the merchant's balance so that concurrent refunds cannot each
-- pass the check on the same money. The projection deletes a reservation when it posts the
-- refund; one left by a refund the payment's actor refused stops counting after a while
-- (core/constants.ts refund_reservation_ttl_ms).
CREATE TABLE refund_reservations (
  refund_id text PRIMARY KEY,
  merchant_id text NOT NULL,
  currency text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refund_reservations_merchant ON refund_reservations (merchant_id, currency, created_at);

-- Down Migration
DROP TABLE refund_reservations;
