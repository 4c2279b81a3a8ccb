-- Up Migration
-- A split's share to a member wallet (core/splits/README.md, "Shares to member wallets"): the
-- receiver is a member of the merchant, its share posted to its member_wallet (SPLIT_TO_MEMBER)
-- instead of a split_receiver account, and taken back from it by a refund (SPLIT_RETURN_MEMBER)
-- only as far as the wallet still holds it.
ALTER TABLE split_receivers ADD COLUMN member boolean NOT NULL DEFAULT false;
ALTER TABLE split_receivers ADD CONSTRAINT member_in_books CHECK (NOT member OR channel_id IS NULL);

-- Down Migration
ALTER TABLE split_receivers DROP CONSTRAINT member_in_books;
ALTER TABLE split_receivers DROP COLUMN member;
