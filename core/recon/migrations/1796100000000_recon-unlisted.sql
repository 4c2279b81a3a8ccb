-- Up Migration
-- A 短款 (OURS_ONLY) the channel's query says it took is reclassified UNLISTED by the automatic
-- action (core/recon/act.ts): the channel has it, no statement within the pool's days listed it.
-- The statement format column also names alipay and unionpay (documentation only: no check).

ALTER TABLE recon_differences DROP CONSTRAINT recon_differences_class_check;
ALTER TABLE recon_differences ADD CONSTRAINT recon_differences_class_check
  CHECK (class IN ('CHANNEL_ONLY', 'OURS_ONLY', 'AMOUNT_MISMATCH', 'FEE_MISMATCH', 'STATUS_MISMATCH', 'CUTOFF_SHIFT', 'PAID_TWICE', 'UNLISTED'));

-- Down Migration
ALTER TABLE recon_differences DROP CONSTRAINT recon_differences_class_check;
ALTER TABLE recon_differences ADD CONSTRAINT recon_differences_class_check
  CHECK (class IN ('CHANNEL_ONLY', 'OURS_ONLY', 'AMOUNT_MISMATCH', 'FEE_MISMATCH', 'STATUS_MISMATCH', 'CUTOFF_SHIFT', 'PAID_TWICE'));
