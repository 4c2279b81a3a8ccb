// The payout timers that kept failing (timer-pump.ts), for an operator: list them in the
// order they died, and re-drive one — scheduled again due now with its failures reset, then
// its dead letter removed (a crash in between leaves the dead letter; a second re-drive only
// schedules the timer once more, and the handlers repeat safely).

import { JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, no_money } from '../codec';
import { timer_dead_letters_list_max } from '../constants';
import { dependencyFailure, invalidFields, PaycoreError, type FieldViolation } from '../errors';
import type { DeadPayoutTimer, PayoutNames, PayoutStore, PayoutTimer } from './store';

export interface ListedDeadPayoutTimer extends DeadPayoutTimer {
  seq: number;
}

const message_not_found = 10043;

export class PayoutDeadLetters {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly names: PayoutNames,
    private readonly store: Pick<PayoutStore, 'schedule'>,
  ) {}

  async list(query: { limit: number; after_seq: number }): Promise<ListedDeadPayoutTimer[]> {
    const violations: FieldViolation[] = [];
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > timer_dead_letters_list_max) {
      violations.push({ field: 'limit', description: `must be an integer from 1 to ${timer_dead_letters_list_max}` });
    }
    if (!Number.isSafeInteger(query.after_seq) || query.after_seq < 0) violations.push({ field: 'after_seq', description: 'must be a non-negative integer' });
    if (violations.length > 0) throw invalidFields(violations);
    const found: ListedDeadPayoutTimer[] = [];
    let seq = query.after_seq + 1;
    try {
      while (found.length < query.limit) {
        const message = await this.jsm.direct.getMessage(this.names.timers_dead_stream, { seq, next_by_subj: this.names.timers_dead_all });
        if (message === null) break;
        found.push({ seq: message.seq, ...decodeJson<DeadPayoutTimer>(message.data, no_money) });
        seq = message.seq + 1;
      }
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
    return found;
  }

  /** Answers the timer scheduled again. */
  async redrive(seq: number): Promise<PayoutTimer> {
    if (!Number.isSafeInteger(seq) || seq < 1) throw invalidFields([{ field: 'seq', description: 'must be a dead payout timer seq (a positive integer)' }]);
    let message;
    try {
      message = await this.jsm.direct.getMessage(this.names.timers_dead_stream, { seq });
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === message_not_found)) throw dependencyFailure(error, 'NATS');
      message = null;
    }
    if (message === null || message === undefined) throw new PaycoreError('NOT_FOUND', `no dead payout timer at seq ${seq}`);
    const dead = decodeJson<DeadPayoutTimer>(message.data, no_money);
    const timer: PayoutTimer = { ...dead.timer, failures: 0, due_at: new Date().toISOString() };
    await this.store.schedule(timer);
    try {
      await this.jsm.streams.deleteMessage(this.names.timers_dead_stream, seq, false);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === message_not_found)) throw dependencyFailure(error, 'NATS'); // a concurrent re-drive
    }
    return timer;
  }
}
