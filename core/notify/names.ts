// The notifier's subjects, streams and consumers, derived from the deployment prefix like
// core/names.ts (kept here while core/notify is new; they can move there once it is wired).

import { names as coreNames } from '../names';

export interface NotifyNames {
  /** PAY_EVENTS, read by the events consumer. */
  events_stream: string;
  events_all: string;
  /** Durable consumer on PAY_EVENTS that turns outcome events into pending notifications. */
  events_consumer: string;
  /** Work queue of pending deliveries: `<p>.notify.send.<merchant_id>`. */
  stream: string;
  send(merchant_id: string): string;
  send_all: string;
  /** Durable consumer that delivers them. */
  sender_consumer: string;
  /** Dead letters, one subject per notification: `<p>.notify.dead.<merchant_id>.<notification_id>`. */
  dead_stream: string;
  dead(merchant_id: string, notification_id: string): string;
  /** Every dead letter of one merchant, or of all (`merchant_id` undefined). */
  dead_of(merchant_id: string | undefined): string;
  /** The dead letter of one notification, whatever its merchant. */
  dead_by_id(notification_id: string): string;
}

export function notifyNames(prefix: string): NotifyNames {
  const core = coreNames(prefix);
  const upper = prefix.toUpperCase();
  return {
    events_stream: core.events_stream,
    events_all: core.events_all,
    events_consumer: `${upper}_NOTIFIER`,
    stream: `${upper}_NOTIFY`,
    send: (merchant_id) => `${prefix}.notify.send.${merchant_id}`,
    send_all: `${prefix}.notify.send.>`,
    sender_consumer: `${upper}_NOTIFY_SENDER`,
    dead_stream: `${upper}_NOTIFY_DLQ`,
    dead: (merchant_id, notification_id) => `${prefix}.notify.dead.${merchant_id}.${notification_id}`,
    dead_of: (merchant_id) => (merchant_id === undefined ? `${prefix}.notify.dead.>` : `${prefix}.notify.dead.${merchant_id}.>`),
    dead_by_id: (notification_id) => `${prefix}.notify.dead.*.${notification_id}`,
  };
}

/** A merchant id or notification id is used as one subject token: it must not split or
 * wildcard a subject. Merchant ids are `[A-Za-z0-9_-]` and notification ids
 * `<payment_id>:<version>[:refund]` (docs/api.md, core/ids.ts), so this holds for valid input. */
export function isSubjectToken(value: string): boolean {
  return /^[A-Za-z0-9_:-]{1,128}$/.test(value);
}
