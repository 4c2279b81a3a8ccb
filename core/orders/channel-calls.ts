// The channel-call step of every turn, in one place: build the adapter's request from the
// recorded payment, call it timed and traced, classify what its answer (or failure) proves, and
// feed the channel's live health. Write-ahead: every call here names an attempt or a refund the
// payment's log already holds (the flows append the intent first), so a process that dies
// mid-call leaves a record the timers drive on, and the provider deduplicates by its id.

import { context } from '@opentelemetry/api';
import { ChannelError, type AttemptRef, type AttemptStatus, type Channel, type PayerElements, type RefundStatus } from '../../channels/channel';
import { PaycoreError } from '../errors';
import type { Logger } from '../log';
import { timed, type ActorMetrics } from '../metrics';
import type { ChannelDirectory } from '../routing/directory';
import type { Sealer } from '../seal';
import { SpanKind, inSpan } from '../tracing';
import { describe } from './actor-state';
import type { Attempt, PaymentState, Refund } from './types';

export interface ChannelCallsDeps {
  channels: Pick<ChannelDirectory, 'get' | 'notifyUrl' | 'recordOutcome'>;
  sealer: Pick<Sealer, 'open'>;
  log: Logger;
  metrics: Pick<ActorMetrics, 'channel_calls'>;
  now(): Date;
}

export class ChannelCalls {
  constructor(private readonly deps: ChannelCallsDeps) {}

  /** The channel's create: its status, or undefined when the outcome is unknown. */
  async pay(state: PaymentState, attempt: Attempt, payer: PayerElements): Promise<AttemptStatus | undefined> {
    const channel = this.#channel(attempt.channel_id);
    try {
      return await this.#call(attempt.channel_id, 'pay', () => channel.pay({
        attempt_id: attempt.attempt_id,
        payment_id: state.payment_id,
        product: state.product,
        amount_minor: state.amount_minor,
        currency: state.currency,
        subject: state.subject,
        expires_at: new Date(state.expires_at),
        payer,
        notify_url: this.deps.channels.notifyUrl(attempt.channel_id),
        requested_at: attempt.requested_at === undefined ? undefined : new Date(attempt.requested_at),
      }));
    } catch (error) {
      return this.#failedCall(state.payment_id, 'pay', error);
    }
  }

  /** The channel's view of an attempt; undefined when the query failed (logged). */
  async query(state: PaymentState, attempt: Attempt): Promise<AttemptStatus | undefined> {
    const channel = this.#channel(attempt.channel_id);
    try {
      return await this.#call(attempt.channel_id, 'query', () => channel.query(attemptRef(state, attempt)));
    } catch (error) {
      this.deps.log.warn({ payment_id: state.payment_id, attempt_id: attempt.attempt_id, err: describe(error) }, 'attempt query failed');
      return undefined;
    }
  }

  /** Closes the attempt at its channel; undefined when the close failed (logged: retry). */
  async close(state: PaymentState, attempt: Attempt): Promise<'closed' | 'already_paid' | undefined> {
    try {
      const channel = this.#channel(attempt.channel_id);
      return (await this.#call(attempt.channel_id, 'close', () => channel.close(attemptRef(state, attempt)))).kind;
    } catch (error) {
      if (error instanceof ChannelError && error.code === 'ORDER_NOT_EXIST') return 'closed'; // the channel never had the order: nothing left to close
      this.deps.log.warn({ payment_id: state.payment_id, err: describe(error) }, 'channel close failed; will retry');
      return undefined;
    }
  }

  /** The payer's step-up answer: the attempt's new status, 'wrong_code', or undefined when the
   * outcome is unknown. */
  async confirm(state: PaymentState, attempt: Attempt, verification_code: string): Promise<AttemptStatus | 'wrong_code' | undefined> {
    const channel = this.#channel(attempt.channel_id);
    const confirm = channel.confirm?.bind(channel);
    if (confirm === undefined) throw new PaycoreError('ILLEGAL_STATE', `channel ${attempt.channel_id} has no step-up to confirm`);
    try {
      return await this.#call(attempt.channel_id, 'confirm', () =>
        confirm({
          attempt: attemptRef(state, attempt),
          verification_code,
          payer: this.deps.sealer.open<PayerElements>(state.payer_sealed),
          amount_minor: state.amount_minor,
          notify_url: this.deps.channels.notifyUrl(attempt.channel_id),
          expires_at: new Date(state.expires_at),
        }),
      );
    } catch (error) {
      if (error instanceof ChannelError && error.kind === 'rejected' && error.code === 'WRONG_CODE') return 'wrong_code';
      return this.#failedCall(state.payment_id, 'confirm', error);
    }
  }

  /** Submits the refund; its status, or undefined when the outcome is unknown (logged). */
  async refund(state: PaymentState, refund: Refund): Promise<RefundStatus | undefined> {
    const attempt = state.attempts.find((a) => a.attempt_id === refund.attempt_id);
    const channel = this.#channel(refund.channel_id);
    try {
      return await this.#call(refund.channel_id, 'refund', () =>
        channel.refund({
          refund_id: refund.refund_id,
          attempt: refundedAttemptRef(state, refund),
          // A duplicate's refund names its own transaction, not the attempt's first one.
          channel_trade_no: refund.channel_trade_no ?? attempt?.channel_trade_no,
          requested_at: new Date(refund.created_at),
          amount_minor: refund.amount_minor,
          reason: refund.reason,
          notify_url: `${this.deps.channels.notifyUrl(refund.channel_id)}/refund`,
          // Written ahead with the refund: every resend carries the same returns.
          ...(refund.share_returns === undefined ? {} : { share_returns: refund.share_returns }),
        }),
      );
    } catch (error) {
      const status = refundCallFailure(error);
      if (status === undefined) this.deps.log.warn({ payment_id: state.payment_id, refund_id: refund.refund_id, err: describe(error) }, 'refund outcome unknown; will query');
      return status;
    }
  }

  /** The channel's view of a refund; undefined when the query failed (logged). */
  async queryRefund(state: PaymentState, refund: Refund): Promise<RefundStatus | undefined> {
    try {
      const channel = this.#channel(refund.channel_id);
      const attempt = refundedAttemptRef(state, refund);
      return await this.#call(refund.channel_id, 'query_refund', () => channel.queryRefund({ refund_id: refund.refund_id, attempt, requested_at: new Date(refund.created_at) }));
    } catch (error) {
      this.deps.log.warn({ payment_id: state.payment_id, refund_id: refund.refund_id, err: describe(error) }, 'refund query failed');
      return undefined;
    }
  }

  #channel(channel_id: string): Channel {
    const channel = this.deps.channels.get(channel_id);
    if (channel === undefined) throw new PaycoreError('INTERNAL', `channel ${channel_id} is not configured here`);
    return channel;
  }

  /** A channel call, timed, labelled by what its outcome proves, and fed to the channel's
   * live health (payment calls only; not awaited, so health never slows a payment). */
  #call<T>(channel_id: string, operation: string, step: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const started_at = this.deps.now();
    return inSpan(`channel ${operation}`, SpanKind.CLIENT, context.active(), (span) => {
      span.setAttribute('paycore.channel', channel_id);
      return timed(this.deps.metrics.channel_calls, { channel: channel_id, operation }, step, (_result, error) => {
        const kind = healthOutcome(error);
        if ((operation === 'pay' || operation === 'query') && kind !== undefined) {
          // Creates and queries are judged apart (a hung create's queries succeed), and a
          // half-open circuit hears only of calls started after it became half-open.
          void this.deps.channels.recordOutcome(channel_id, { kind, latency_ms: performance.now() - started, operation: operation === 'query' ? 'query' : 'create', started_at });
        }
        return error === undefined ? 'ok' : error instanceof ChannelError ? error.kind : 'error';
      });
    });
  }

  /** Maps a failed channel call to what it proves: a refusal or a call that never left is a
   * failed attempt; anything ambiguous stays unknown and is settled by query. */
  #failedCall(payment_id: string, operation: string, error: unknown): AttemptStatus | undefined {
    if (error instanceof ChannelError && (error.kind === 'rejected' || error.kind === 'not_sent' || error.kind === 'unsupported')) {
      this.deps.log.info({ payment_id, operation, code: error.code, kind: error.kind }, 'channel refused the attempt');
      return { kind: 'failed', code: error.code, message: error.message };
    }
    this.deps.log.warn({ payment_id, operation, err: describe(error) }, 'channel outcome unknown; will query');
    return undefined;
  }
}

function attemptRef(state: PaymentState, attempt: Attempt): AttemptRef {
  const ref: AttemptRef = {
    attempt_id: attempt.attempt_id,
    payment_id: state.payment_id,
    product: state.product,
    amount_minor: state.amount_minor,
    currency: state.currency,
  };
  if (attempt.requested_at !== undefined) ref.requested_at = new Date(attempt.requested_at);
  return ref;
}

/** The attempt a refund pays back (a refund of an attempt no longer recorded names it bare). */
function refundedAttemptRef(state: PaymentState, refund: Refund): AttemptRef {
  const attempt = state.attempts.find((a) => a.attempt_id === refund.attempt_id);
  return attempt === undefined
    ? {
        attempt_id: refund.attempt_id,
        payment_id: state.payment_id,
        product: state.product,
        amount_minor: state.amount_minor,
        currency: state.currency,
      }
    : attemptRef(state, attempt);
}

/** How a channel call counts for the channel's health (undefined: not at all). */
function healthOutcome(error: unknown): 'success' | 'payer_decline' | 'system_error' | 'timeout' | undefined {
  if (error === undefined) return 'success';
  if (!(error instanceof ChannelError)) return 'system_error';
  switch (error.kind) {
    case 'unsupported':
    case 'bad_signature':
      return undefined;
    case 'ambiguous':
      return error.code === 'TIMEOUT' ? 'timeout' : 'system_error';
    case 'not_sent':
      return 'system_error';
    case 'rejected':
      // The adapter classified its provider's code: a payer's refusal says nothing of the channel.
      return error.payer_decline ? 'payer_decline' : 'system_error';
  }
}

/** What a failed refund call proves. A call that never left may be tried again; a refusal
 * is final; a channel that cannot refund by API needs a manual payout; anything ambiguous
 * is settled by query (undefined). */
function refundCallFailure(error: unknown): RefundStatus | undefined {
  if (!(error instanceof ChannelError)) return undefined;
  switch (error.kind) {
    case 'not_sent':
      return { kind: 'failed', code: error.code, message: error.message, retryable: true };
    case 'rejected':
      return { kind: 'failed', code: error.code, message: error.message, retryable: false };
    case 'unsupported':
      return { kind: 'requires_manual', code: error.code, message: error.message };
    default:
      return undefined;
  }
}
