-- Up Migration
-- The refund funding cover (core/ledger/funding.ts) counts a payment's split shares only for
-- that payment's refunds, up to what they reserve: a reservation names its payment. Empty (or
-- NULL, before this column): a refund whose payment is not known to the check — its reservation
-- counts, no shares fund it.
ALTER TABLE refund_reservations ADD COLUMN payment_id text;

-- Down Migration
ALTER TABLE refund_reservations DROP COLUMN payment_id;
