-- Up Migration
-- A refund's claim on a channel-split payment (channel_refund_claims) whose refund never came to
-- exist (the gateway stopped between the books' returns and the order actor, and the merchant
-- never retried) is given back by a sweep after a bounded time (core/splits/README.md, "Orphan
-- return claims"): claimed_at says when the refund last planned or found its returns (a retry
-- renews it, and the sweep gives back only a claim unchanged since it read the order's log);
-- released marks one given back (by the sweep, or because the order actor refused the refund),
-- no longer counted by a split's limit; a retry of the same refund after that plans anew, as
-- generation + 1, whose postings are keyed apart from the earlier ones (split_returns.generation).
ALTER TABLE channel_refund_claims
  ADD COLUMN claimed_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN released boolean NOT NULL DEFAULT false,
  ADD COLUMN generation int NOT NULL DEFAULT 1;
CREATE INDEX channel_refund_claims_open ON channel_refund_claims (claimed_at) WHERE NOT released;
ALTER TABLE split_returns ADD COLUMN generation int NOT NULL DEFAULT 1;

-- Down Migration
ALTER TABLE split_returns DROP COLUMN generation;
DROP INDEX channel_refund_claims_open;
ALTER TABLE channel_refund_claims DROP COLUMN generation, DROP COLUMN released, DROP COLUMN claimed_at;
