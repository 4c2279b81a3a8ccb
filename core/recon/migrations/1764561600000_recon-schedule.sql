-- Up Migration
-- The daily pull's schedule (core/recon/schedule.ts): per channel, the next day whose statement
-- is to be fetched and reconciled, and the backoff while the provider has not published it.
-- A process claims a channel's row (FOR UPDATE SKIP LOCKED) for the time of one fetch: many
-- processes share the schedule, and a restart continues where it stopped.

CREATE TABLE recon_schedule (
  channel_id text PRIMARY KEY,
  next_date date NOT NULL,
  attempts int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE recon_schedule;
