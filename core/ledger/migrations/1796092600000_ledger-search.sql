-- Up Migration
-- Search on the query side (LedgerService ListPayments / ListRefunds by the merchant's order
-- number) and a merchant account's journal lines by date (ListAccountEntries).
CREATE INDEX payments_merchant_order_no ON payments (merchant_id, merchant_order_no);
CREATE INDEX refunds_payment ON refunds (payment_id);
-- An account's lines in (entry, line) order: ListAccountEntries pages on both; it serves
-- everything journal_lines_account served.
CREATE INDEX journal_lines_account_line ON journal_lines (account_id, entry_id, line_no);
DROP INDEX journal_lines_account;

-- Down Migration
CREATE INDEX journal_lines_account ON journal_lines (account_id, entry_id);
DROP INDEX journal_lines_account_line;
DROP INDEX refunds_payment;
DROP INDEX payments_merchant_order_no;
