// Merchant notifications (docs/architecture.md §6, issue 5 item 3): signed POSTs of payment and
// refund outcomes to the merchant's notify URL, durable retries, dead letters. The format a
// merchant receives and how it verifies the signature are in docs/events.md.

export { ensureNotifyStreams, deleteNotifyStreams, type EventsStart, type NotifyStreamOptions } from './streams';
export { startNotifier, type Notifier, type NotifierOptions, type SecretOf } from './notifier';
export type { DeadLetterQuery } from './dead-letters';
export { notifyNames, type NotifyNames } from './names';
export { parseScheduleMs } from './schedule';
export { signature_header, signature_tolerance_s_default, signatureHeader, verifyNotification } from './signature';
export { notify_schedule_ms_default, notify_timeout_ms_default } from './constants';
export type {
  DeadLetter,
  NotificationBody,
  NotificationType,
  PaymentData,
  RefundData,
} from './types';
