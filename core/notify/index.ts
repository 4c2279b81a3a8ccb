// Merchant notifications (docs/architecture.md §6, issue 5 item 3): signed POSTs of payment and
// refund outcomes to the merchant's notify URL, durable retries, dead letters. The format a
// merchant receives and how it verifies the signature are in docs/events.md.

export { ensureNotifyStreams, deleteNotifyStreams } from './streams';
export { startNotifier, type Notifier } from './notifier';
export { notifyNames } from './names';
export { verifyNotification } from './signature';
export type {
  DeadLetter,
  NotificationBody,
} from './types';
