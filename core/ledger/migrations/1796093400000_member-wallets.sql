-- Up Migration
-- Member wallets (core/payouts/README.md, "Member wallets"): a member of a merchant (named by
-- the merchant, like a split receiver) holds money in a member_wallet account (owner
-- '<merchant_id>/<member_id>'), credited by a transfer from its merchant (MEMBER_CREDIT) and
-- withdrawn to a bank account by a payout that freezes it in member_frozen while in flight.
-- Both are floored at 0: no posting can take a wallet below zero.

INSERT INTO chart (code, name, normal_side, floor_minor) VALUES
  ('member_wallet', '会员钱包 member wallet', 'credit', 0),
  ('member_frozen', '会员冻结 member wallet frozen', 'credit', 0);

-- A withdrawal is a payout with the member it is paid from; the per-day limit sums them.
ALTER TABLE payouts ADD COLUMN member_id text;
CREATE INDEX payouts_member_daily ON payouts (merchant_id, member_id, currency, created_at) WHERE member_id IS NOT NULL;

-- A transfer to a member of the payer (to_merchant_id is then the payer itself).
ALTER TABLE transfers ADD COLUMN to_member_id text;
ALTER TABLE transfers DROP CONSTRAINT transfers_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_payee CHECK (
  (to_member_id IS NULL AND to_merchant_id <> merchant_id) OR (to_member_id IS NOT NULL AND to_merchant_id = merchant_id));

-- Down Migration
ALTER TABLE transfers DROP CONSTRAINT transfers_payee;
ALTER TABLE transfers ADD CONSTRAINT transfers_check CHECK (to_merchant_id <> merchant_id);
ALTER TABLE transfers DROP COLUMN to_member_id;
DROP INDEX payouts_member_daily;
ALTER TABLE payouts DROP COLUMN member_id;
DELETE FROM chart WHERE code IN ('member_wallet', 'member_frozen');
