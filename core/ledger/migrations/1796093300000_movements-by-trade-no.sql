-- Up Migration
-- Reconciliation finds a payment's attempt by the channel's trade number when a statement's
-- refund row names its payment only by that number (UnionPay's 原交易查询流水号), the payment
-- possibly on an earlier day (core/recon/run.ts).

CREATE INDEX channel_movements_trade_no ON channel_movements (channel_id, trade_no) WHERE kind = 'payment';

-- Down Migration
DROP INDEX channel_movements_trade_no;
