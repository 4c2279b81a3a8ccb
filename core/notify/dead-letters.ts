// The dead letters' admin side: list them (per merchant, in the order they died) and re-send
// one, which queues it from the schedule's start and removes the dead letter.

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, encodeJson, no_money } from '../codec';
import { invalidFields, PaycoreError } from '../errors';
import { notify_dead_letters_list_max } from './constants';
import { isSubjectToken, type NotifyNames } from './names';
import { pendingMessageId, resentPending } from './schedule';
import type { DeadLetter, DeadLetterMessage } from './types';

export interface DeadLetterQuery {
  merchant_id?: string;
  /** 1 to notify_dead_letters_list_max. */
  limit: number;
  /** Only dead letters after this stream sequence (the last `seq` of the previous page). */
  after_seq?: number;
}

const message_not_found = 10043;

export async function listDeadLetters(jsm: JetStreamManager, names: NotifyNames, query: DeadLetterQuery): Promise<DeadLetter[]> {
  checkQuery(query);
  const filter = names.dead_of(query.merchant_id);
  const found: DeadLetter[] = [];
  let seq = (query.after_seq ?? 0) + 1;
  // One direct get per dead letter, in stream order; the limit bounds the loop.
  while (found.length < query.limit) {
    const message = await jsm.direct.getMessage(names.dead_stream, { seq, next_by_subj: filter });
    if (message === null) break;
    found.push(summary(message.seq, decodeJson<DeadLetterMessage>(message.data, no_money)));
    seq = message.seq + 1;
  }
  return found;
}

/** Queues the dead letter `notification_id` again with its attempts reset, then removes it.
 * Throws NOT_FOUND when there is none (already re-sent, expired, or never dead). */
export async function resendDeadLetter(
  js: JetStreamClient,
  jsm: JetStreamManager,
  names: NotifyNames,
  notification_id: string,
  schedule_ms: readonly number[],
): Promise<void> {
  if (!isSubjectToken(notification_id)) {
    throw invalidFields([{ field: 'notification_id', description: 'must be a notification id such as <payment_id>:<version>' }]);
  }
  const message = await jsm.direct.getMessage(names.dead_stream, { seq: 0, next_by_subj: names.dead_by_id(notification_id) });
  if (message === null) throw new PaycoreError('NOT_FOUND', `no dead letter ${notification_id}`);
  const dead = decodeJson<DeadLetterMessage>(message.data, no_money);
  const pending = resentPending(dead, new Date(), schedule_ms);
  // Queued before the dead letter goes: a crash in between leaves a dead letter that a second
  // re-send queues under the same message id, which the server drops as a duplicate.
  await js.publish(names.send(pending.merchant_id), encodeJson(pending), { msgID: pendingMessageId(pending) });
  try {
    await jsm.streams.deleteMessage(names.dead_stream, message.seq, false);
  } catch (error) {
    // A concurrent re-send removed it first.
    if (!(error instanceof JetStreamApiError && error.code === message_not_found)) throw error;
  }
}

function checkQuery(query: DeadLetterQuery): void {
  const violations = [];
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > notify_dead_letters_list_max) {
    violations.push({ field: 'limit', description: `must be an integer from 1 to ${notify_dead_letters_list_max}` });
  }
  if (query.merchant_id !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(query.merchant_id)) {
    violations.push({ field: 'merchant_id', description: 'must be 1-32 of [A-Za-z0-9_-]' });
  }
  if (query.after_seq !== undefined && (!Number.isSafeInteger(query.after_seq) || query.after_seq < 0)) {
    violations.push({ field: 'after_seq', description: 'must be a non-negative integer' });
  }
  if (violations.length > 0) throw invalidFields(violations);
}

function summary(seq: number, dead: DeadLetterMessage): DeadLetter {
  return {
    seq,
    id: dead.id,
    type: dead.type,
    merchant_id: dead.merchant_id,
    payment_id: dead.payment_id,
    refund_id: dead.refund_id,
    url: dead.url,
    attempts: dead.attempts,
    resends: dead.resends,
    last_error: dead.last_error,
    last_attempt_at: dead.last_attempt_at,
    dead_at: dead.dead_at,
  };
}
