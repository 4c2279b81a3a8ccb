// Every bound the merchant notifier runs under, with its unit and why it holds. The two a
// deployment configures (the schedule and the timeout) have their defaults in core/constants.ts
// with the configuration's others (core/config.ts reads them there, below this module).

/** Attempts in any schedule: the default has 10; a longer list is a configuration mistake
 * (the merchant-facing contract says "at most 10 attempts"), not a tuning knob. */
export const notify_attempts_max = 10;

/** Longest configurable delivery timeout: it must stay well inside the sender consumer's
 * ack wait, or a slow merchant would make JetStream redeliver a message still in flight. */
export const notify_timeout_ms_max = 30_000;

/** The sender consumer's ack wait: a delivery (secret lookup, one POST bounded by the
 * timeout above, one publish) finishes well within it. */
export const notify_ack_wait_ms_default = 60_000;

/** Deliveries in flight to one merchant per notifier process. Four keeps a merchant's
 * endpoint busy (notifications are independent) while a slow or hanging one pins at most
 * four slots; the rest of its queue waits in JetStream, not in memory, and other merchants
 * proceed. With P notifier processes a merchant sees at most 4·P at once. */
export const notify_inflight_per_merchant_max = 4;

/** Deliveries in flight per notifier process, all merchants together: bounds sockets and
 * memory (each delivery holds one body of a few KiB and one connection). */
export const notify_inflight_max = 256;

/** A due notification whose merchant (or the process) is at its in-flight bound goes back
 * to JetStream for this long. Short enough that a merchant that answers quickly loses little
 * throughput, long enough that a merchant with a deep queue costs a few redeliveries a
 * second, not a busy loop. */
export const notify_busy_delay_ms_default = 1_000;

/** Longest single nak delay of a pending notification: a due time further away is reached
 * in hops, so a clock change delays an attempt by at most this (as timer_nak_delay_ms_max). */
export const notify_nak_delay_ms_max = 600_000;

/** A step that failed for a reason that is not the merchant's (NATS publish failed, the
 * secret store threw) is retried after this without spending an attempt. */
export const notify_retry_delay_ms = 2_000;
/** Cap of the doubling delay between tries to queue an outcome's notifications. */
export const notify_retry_delay_ms_max = 300_000;

/** Pending notifications one sender consumer may hold unacknowledged. Every notification
 * waiting for a retry is nak-delayed and so counts: this bounds notifications in their retry
 * schedule at once per deployment; beyond it new ones wait in the stream (durable) until
 * older ones are delivered or dead-lettered. */
export const notify_pending_max = 100_000;

/** Messages the NOTIFY stream holds (discard new): a full queue makes the events consumer
 * nak and retry, so back-pressure lands on PAY_EVENTS, which keeps every event anyway. */
export const notify_stream_msgs_max = 1_000_000;

/** Dead letters kept (discard new: a full dead-letter stream keeps the notification retrying
 * in NOTIFY rather than losing it) and how long (an operator re-sends within a month, or the
 * merchant reads the payment with GetPayment). */
export const notify_dead_letters_max = 1_000_000;
export const notify_dead_letter_age_ms_max = 30 * 86_400_000;

/** Dead letters one listDeadLetters call returns (a page; the caller passes after_seq). */
export const notify_dead_letters_list_max = 1_000;

/** PAY_EVENTS messages the events consumer may hold unacknowledged. Outcomes are turned
 * into queued notifications one at a time, but paycore's event reader (workers/event-reader.ts)
 * also holds each creation message on this consumer until its first timer is due, so it
 * bounds the payments waiting on their first query or expiry, as timers_pending_max does for
 * PAY_TIMERS. Applied on creation and on every boot. */
export const notify_events_pending_max = 500_000;
export const notify_fetch_batch_max = 256;

/** Response body bytes read (and discarded) from a merchant before the connection is
 * dropped: an acknowledgement is a status code, not a document. */
export const notify_response_bytes_max = 16 * 1024;
