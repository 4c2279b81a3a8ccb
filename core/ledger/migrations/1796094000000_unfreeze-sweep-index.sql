-- Up Migration
-- The automatic unfreeze's sweep (core/splits/unfreeze.ts) reads the payments of the
-- profit-sharing channels by paid_at, oldest first, and looks for a finishing split of each:
-- without these it read every payment and every split, every minute, in every gateway.
CREATE INDEX payments_channel_paid ON payments (channel_id, paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX splits_payment ON splits (payment_id);

-- Down Migration
DROP INDEX splits_payment;
DROP INDEX payments_channel_paid;
