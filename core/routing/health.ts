// Channel health: each attempt's outcome feeds the channel's sliding window and its circuit
// breaker, in one script call (lua.ts outcome_script) on the channel's hash-tagged keys. The
// decision (decision.ts) reads both in its own script call.

import { assert } from '../errors';
import type { RoutingKeys, RoutingRedis } from './keys';
import type { CircuitOptions, ScoringOptions } from './scoring';
import type { CircuitState, Outcome } from './types';

export const circuit_names: Readonly<Record<string, CircuitState>> = { C: 'CLOSED', O: 'OPEN', H: 'HALF_OPEN' };
const outcome_fields = { success: 's', system_error: 'e', timeout: 't', payer_decline: 'd' } as const;
/** Longest latency recorded for one outcome: anything longer is a hung call, capped so one
 * outlier cannot dominate a window's mean. */
const outcome_latency_ms_max = 120_000;

export class ChannelHealth {
  constructor(
    private readonly redis: RoutingRedis,
    private readonly keys: RoutingKeys,
    private readonly scoring: ScoringOptions,
    private readonly circuit: CircuitOptions,
    private readonly clock: () => Date,
  ) {}

  /** One attempt's outcome for the channel's health and circuit. Payer declines are recorded
   * (for explanation) but never count against the channel. */
  async recordOutcome(channel_id: string, outcome: Outcome): Promise<CircuitState> {
    assert(Number.isFinite(outcome.latency_ms) && outcome.latency_ms >= 0, `bad outcome latency ${outcome.latency_ms}`);
    const at = outcome.at ?? this.clock();
    const s = this.scoring;
    const c = this.circuit;
    const latency_ms = Math.min(Math.round(outcome.latency_ms), outcome_latency_ms_max);
    const started_ms = outcome.started_at?.getTime() ?? at.getTime() - Math.round(outcome.latency_ms);
    const state = await this.redis.paycoreOutcome(
      this.keys.channel(channel_id), at.getTime(), outcome_fields[outcome.kind], latency_ms,
      s.bucket_ms, s.window_ms, c.failure_rate_open, c.volume_min, c.probe_successes_close, c.cooldown_ms,
      started_ms, outcome.operation === 'query' ? 'q' : '',
    );
    return circuit_names[state] ?? 'CLOSED';
  }
}
