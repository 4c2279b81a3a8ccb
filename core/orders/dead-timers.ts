// The dead-lettered timers' admin side: list them (in the order they died) and re-drive one,
// which schedules it again due now with its failures reset and removes the dead letter.

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, no_money } from '../codec';
import { timer_dead_letters_list_max } from '../constants';
import { invalidFields, PaycoreError } from '../errors';
import type { Names } from '../names';
import { TimerScheduler, type DeadTimerMessage } from './timers';

export interface DeadTimer extends DeadTimerMessage {
  seq: number;
}

export interface DeadTimers {
  list(query: { limit: number; after_seq: number }): Promise<DeadTimer[]>;
  /** Answers the payment id of the timer scheduled again. */
  redrive(seq: number): Promise<string>;
}

const message_not_found = 10043;

export function deadTimers(js: JetStreamClient, jsm: JetStreamManager, names: Names): DeadTimers {
  return {
    async list(query) {
      const violations = [];
      if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > timer_dead_letters_list_max) {
        violations.push({ field: 'limit', description: `must be an integer from 1 to ${timer_dead_letters_list_max}` });
      }
      if (!Number.isSafeInteger(query.after_seq) || query.after_seq < 0) violations.push({ field: 'after_seq', description: 'must be a non-negative integer' });
      if (violations.length > 0) throw invalidFields(violations);
      const found: DeadTimer[] = [];
      let seq = query.after_seq + 1;
      // One direct get per dead timer, in stream order; the limit bounds the loop.
      while (found.length < query.limit) {
        const message = await jsm.direct.getMessage(names.timers_dead_stream, { seq, next_by_subj: names.timers_dead_all });
        if (message === null) break;
        found.push({ seq: message.seq, ...decodeJson<DeadTimerMessage>(message.data, no_money) });
        seq = message.seq + 1;
      }
      return found;
    },

    async redrive(seq) {
      if (!Number.isSafeInteger(seq) || seq < 1) throw invalidFields([{ field: 'seq', description: 'must be a DeadTimer seq (a positive integer)' }]);
      let message;
      try {
        message = await jsm.direct.getMessage(names.timers_dead_stream, { seq });
      } catch (error) {
        if (error instanceof JetStreamApiError && error.code === message_not_found) message = null;
        else throw error;
      }
      if (message === null || message === undefined) throw new PaycoreError('NOT_FOUND', `no dead timer at seq ${seq}`);
      const dead = decodeJson<DeadTimerMessage>(message.data, no_money);
      if (dead.timer.payment_id === 'undecodable') throw new PaycoreError('ILLEGAL_STATE', `dead timer ${seq} could not be read; its reason holds what it was`);
      // Scheduled before the dead letter goes: a crash in between leaves the dead letter,
      // and a second re-drive only schedules the timer once more (actors repeat safely).
      await new TimerScheduler(js, names).schedule({ ...dead.timer, failures: 0, due_at: new Date().toISOString() });
      try {
        await jsm.streams.deleteMessage(names.timers_dead_stream, seq, false);
      } catch (error) {
        if (!(error instanceof JetStreamApiError && error.code === message_not_found)) throw error; // a concurrent re-drive
      }
      return dead.timer.payment_id;
    },
  };
}
