// Channel health: each attempt's outcome feeds the channel's sliding window and its circuit
// breaker. On the hot path (`count`) an outcome is only counted in memory; the batcher
// (health-batch.ts) flushes every channel's batch at most every 250 ms, one script call per
// channel on its hash-tagged keys, and keeps the process's view of the fleet's window and
// circuit that the decision (decision.ts) reads. `recordOutcome` counts and flushes at once
// (tests, and callers that need the circuit the outcome leads to).

import type { HealthBatcher } from './health-batch';
import type { CircuitState, Outcome } from './types';


export class ChannelHealth {
  constructor(readonly batcher: HealthBatcher) {}

  /** Counts one call's outcome, flushed with the next batch (≤ 250 ms). Payer declines are
   * recorded (for explanation) but never count against the channel. Answers the circuit as
   * this process last saw it. */
  count(channel_id: string, outcome: Outcome): CircuitState {
    this.batcher.record(channel_id, outcome);
    return this.batcher.view(channel_id).circuit;
  }

  /** Counts one outcome and flushes now: the circuit the fleet's window leads to. */
  async recordOutcome(channel_id: string, outcome: Outcome): Promise<CircuitState> {
    this.batcher.record(channel_id, outcome);
    await this.batcher.flush();
    return this.batcher.view(channel_id).circuit;
  }

  /** Flushes what is counted and stops the batcher's timer (shutdown). */
  stop(): Promise<void> {
    return this.batcher.stop();
  }
}
