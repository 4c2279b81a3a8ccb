-- Up Migration
-- Merchant holds placed by risk (RiskAdminService HoldMerchant, core/risk/README.md): who
-- placed a hold, and whether it stops the merchant's settlement while open. A risk hold of
-- the whole available balance may freeze nothing (the merchant has none yet) and still stop
-- settlement, so a hold's amount may be 0 (no entry is posted for it).
ALTER TABLE holds
  ADD COLUMN source text NOT NULL DEFAULT 'operator' CHECK (source IN ('operator', 'risk')),
  ADD COLUMN blocks_settlement boolean NOT NULL DEFAULT false,
  DROP CONSTRAINT holds_amount_minor_check,
  ADD CONSTRAINT holds_amount_minor_check CHECK (amount_minor >= 0);
CREATE INDEX holds_open_merchant ON holds (merchant_id, currency) WHERE released_at IS NULL;

-- Down Migration
DROP INDEX holds_open_merchant;
ALTER TABLE holds
  DROP CONSTRAINT holds_amount_minor_check,
  ADD CONSTRAINT holds_amount_minor_check CHECK (amount_minor > 0),
  DROP COLUMN blocks_settlement,
  DROP COLUMN source;
