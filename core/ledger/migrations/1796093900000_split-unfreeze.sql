-- Up Migration
-- Unfreezing at the channel (WeChat Pay 分账完结, core/splits/README.md): a split marked the
-- merchant's last (finish) unfreezes what is left unsplit; an unfreeze is a finishing split of
-- no receivers (amount 0), made by the merchant or by paycore once the payment has been paid
-- for the unfreeze period. The splits row keeps finish, and the channel and its order number
-- (ListSplits shows them).
ALTER TABLE splits DROP CONSTRAINT splits_amount_minor_check,
  ADD CONSTRAINT splits_amount_minor_check CHECK (amount_minor >= 0),
  ADD COLUMN finish boolean NOT NULL DEFAULT false,
  ADD COLUMN channel_id text,
  ADD COLUMN channel_split_no text;

-- Down Migration
ALTER TABLE splits DROP COLUMN channel_split_no, DROP COLUMN channel_id, DROP COLUMN finish,
  DROP CONSTRAINT splits_amount_minor_check,
  ADD CONSTRAINT splits_amount_minor_check CHECK (amount_minor > 0);
