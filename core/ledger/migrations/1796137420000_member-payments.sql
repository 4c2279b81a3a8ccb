-- Up Migration
-- A member paying its merchant from its wallet (core/payouts/transfers.ts, MEMBER_DEBIT): a
-- transfer paid by from_member_id (a member of merchant_id) to merchant_id itself. A transfer
-- is one of three: merchant → merchant of its group, merchant → its member, member → its merchant.
ALTER TABLE transfers ADD COLUMN from_member_id text;
ALTER TABLE transfers DROP CONSTRAINT transfers_payee;
ALTER TABLE transfers ADD CONSTRAINT transfers_payee CHECK (
  (to_member_id IS NULL AND from_member_id IS NULL AND to_merchant_id <> merchant_id)
  OR (to_member_id IS NOT NULL AND from_member_id IS NULL AND to_merchant_id = merchant_id)
  OR (from_member_id IS NOT NULL AND to_member_id IS NULL AND to_merchant_id = merchant_id));

-- Down Migration
DELETE FROM transfers WHERE from_member_id IS NOT NULL;
ALTER TABLE transfers DROP CONSTRAINT transfers_payee;
ALTER TABLE transfers ADD CONSTRAINT transfers_payee CHECK (
  (to_member_id IS NULL AND to_merchant_id <> merchant_id) OR (to_member_id IS NOT NULL AND to_merchant_id = merchant_id));
ALTER TABLE transfers DROP COLUMN from_member_id;
