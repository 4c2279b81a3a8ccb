// Every NATS subject, stream and consumer name of one deployment, derived from its prefix so
// that test runs and deployments sharing a server never see each other's messages.

export interface Names {
  /** Commands for one shard's actors: `<p>.pay.cmd.<shard>`. */
  command(shard: number): string;
  events_stream: string;
  /** One subject per payment: `<p>.pay.evt.<payment_id>`. */
  events(payment_id: string): string;
  events_all: string;
  timers_stream: string;
  timer(kind: string): string;
  timers_all: string;
  timers_consumer: string;
  /** Timers that kept failing: `<p>.pay.timerdead.<kind>.<payment_id>`, for an operator. */
  timers_dead_stream: string;
  timerDead(kind: string, payment_id: string): string;
  timers_dead_all: string;
  /** refund_id → payment_id, one subject per refund, written once. */
  refund_index_stream: string;
  refundIndex(refund_id: string): string;
  /** Risk decisions (core/risk): `<p>.risk.evt.<payment_id>`, one message per assessment. */
  risk_events_stream: string;
  riskEvents(payment_id: string): string;
  risk_events_all: string;
}

export function names(prefix: string): Names {
  const upper = prefix.toUpperCase();
  return {
    command: (shard) => `${prefix}.pay.cmd.${shard}`,
    events_stream: `${upper}_PAY_EVENTS`,
    events: (payment_id) => `${prefix}.pay.evt.${payment_id}`,
    events_all: `${prefix}.pay.evt.>`,
    timers_stream: `${upper}_PAY_TIMERS`,
    timer: (kind) => `${prefix}.pay.timer.${kind}`,
    timers_all: `${prefix}.pay.timer.>`,
    timers_consumer: `${upper}_TIMER_PUMP`,
    timers_dead_stream: `${upper}_PAY_TIMERS_DEAD`,
    timerDead: (kind, payment_id) => `${prefix}.pay.timerdead.${kind}.${payment_id}`,
    timers_dead_all: `${prefix}.pay.timerdead.>`,
    refund_index_stream: `${upper}_REFUND_INDEX`,
    refundIndex: (refund_id) => `${prefix}.refund.idx.${refund_id}`,
    risk_events_stream: `${upper}_RISK_EVENTS`,
    riskEvents: (payment_id) => `${prefix}.risk.evt.${payment_id}`,
    risk_events_all: `${prefix}.risk.evt.>`,
  };
}
