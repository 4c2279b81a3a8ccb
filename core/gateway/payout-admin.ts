// PayoutAdminService (proto/paycore/v1/payout.proto): settlement accounts and the payout timers
// that kept failing (core/payouts settlement.ts, dead-letters.ts). Role admin:payouts for every
// method (core/auth/policy.ts), which only platform apps hold.

import type * as grpc from '@grpc/grpc-js';
import { PayoutAdminServiceDefinition, PayoutResolutionOutcome } from '../../proto/gen/paycore/v1/payout';
import { callerOf } from '../auth/guard';
import type * as P from '../../proto/gen/paycore/v1/payout';
import { invalidFields, PaycoreError, type FieldViolation } from '../errors';
import type { Logger } from '../log';
import type { PayoutDeadLetters } from '../payouts/dead-letters';
import type { SettlementAccount, SettlementPayouts } from '../payouts/settlement';
import type { DeadPayoutTimer, PayoutTimer } from '../payouts/store';
import { adminUnary, grpcDefinition } from './admin';
import { asPaycoreError, checkPayee, toWire as payoutToWire } from './payouts';
import { toRefund } from './convert';
import { isPayoutId, isRefundId } from '../ids';
import type { OrdersClient } from '../orders/api';
import { refund_codes_paid_by_payout } from '../orders/decide';
import { findRefund } from '../orders/evolve';
import type { PayoutService } from '../payouts/service';

export const payout_admin_service = grpcDefinition(PayoutAdminServiceDefinition);

export interface PayoutAdminDeps {
  settlement: Pick<SettlementPayouts, 'setAccount' | 'getAccount'>;
  dead_letters: Pick<PayoutDeadLetters, 'list' | 'redrive'>;
  service: Pick<PayoutService, 'create' | 'resolve' | 'find'>;
}

const id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const dead_timers_page_default = 100;

export function payoutAdminService(deps: PayoutAdminDeps | undefined, orders: Pick<OrdersClient, 'getRefund' | 'send'>, log: Logger): grpc.UntypedServiceImplementation {
  const unary = adminUnary(log);
  const run = <Req, Res>(method: string, work: (request: Req, deps: PayoutAdminDeps, call: object) => Promise<Res>) =>
    unary(method, async (request: Req, call) => {
      if (deps === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set): payouts freeze their funds there');
      try {
        return await work(request, deps, call);
      } catch (error) {
        throw asPaycoreError(error) ?? error;
      }
    });
  return {
    setSettlementAccount: run('SetSettlementAccount', async (request: P.SetSettlementAccountRequest, d): Promise<P.SetSettlementAccountResponse> => {
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      checkPayee(request.payee, violations);
      if (!id_pattern.test(request.channelId)) violations.push({ field: 'channel_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      if (violations.length > 0) throw invalidFields(violations);
      const payee = request.payee!;
      const account = await d.settlement.setAccount(request.merchantId, {
        channel_id: request.channelId, bank_code: payee.bankCode, payee: { account_no: payee.accountNo, account_name: payee.accountName },
      });
      return { account: accountToWire(account) };
    }),
    getSettlementAccount: run('GetSettlementAccount', async (request: P.GetSettlementAccountRequest, d): Promise<P.GetSettlementAccountResponse> => {
      if (!id_pattern.test(request.merchantId)) throw invalidFields([{ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' }]);
      return { account: accountToWire(await d.settlement.getAccount(request.merchantId)) };
    }),
    listDeadPayoutTimers: run('ListDeadPayoutTimers', async (request: P.ListDeadPayoutTimersRequest, d): Promise<P.ListDeadPayoutTimersResponse> => {
      const dead = await d.dead_letters.list({ limit: request.limit === 0 ? dead_timers_page_default : request.limit, after_seq: Number(request.afterSeq) });
      return { deadTimers: dead.map((letter) => deadToWire(letter.seq, letter)) };
    }),
    payRefundByPayout: run('PayRefundByPayout', (request: P.PayRefundByPayoutRequest, d) => payRefundByPayout(request, d, orders)),
    resolvePayout: run('ResolvePayout', (request: P.ResolvePayoutRequest, d, call) => resolvePayout(request, d, `app:${callerOf(call).app_id}`)),
    // Needs no books: the refund's payment actor queries the channel and records the answer.
    recheckRefund: unary('RecheckRefund', (request: P.RecheckRefundRequest, call) => recheckRefund(request, orders, `app:${callerOf(call).app_id}`)),
    redrivePayoutTimer: run('RedrivePayoutTimer', async (request: P.RedrivePayoutTimerRequest, d): Promise<P.RedrivePayoutTimerResponse> => {
      const timer = await d.dead_letters.redrive(Number(request.seq));
      return { timer: deadToWire(0, { timer, failures: 0, reason: '', dead_at: '' }) };
    }),
  };
}

/** A REQUIRES_MANUAL payout settled by an operator, who is recorded with the reason. */
async function resolvePayout(request: P.ResolvePayoutRequest, deps: PayoutAdminDeps, actor: string): Promise<P.ResolvePayoutResponse> {
  const violations: FieldViolation[] = [];
  if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!isPayoutId(request.payoutId)) violations.push({ field: 'payout_id', description: "must be a payout id ('o' and 25 of a-z, 2-7)" });
  const outcome = outcomes.get(request.outcome);
  if (outcome === undefined) violations.push({ field: 'outcome', description: 'must be SUCCEEDED or FAILED' });
  if (outcome === 'succeeded' && !/^[A-Za-z0-9_-]{1,64}$/.test(request.channelPayoutNo)) {
    violations.push({ field: 'channel_payout_no', description: "is required for SUCCEEDED: the bank's reference, 1..64 of [A-Za-z0-9_-]" });
  }
  if (outcome === 'failed' && request.channelPayoutNo !== '') violations.push({ field: 'channel_payout_no', description: 'must be empty for FAILED' });
  const reason = request.reason.trim();
  if (reason === '' || [...reason].length > 256) violations.push({ field: 'reason', description: 'is required: 1..256 characters' });
  if (violations.length > 0 || outcome === undefined) throw invalidFields(violations);
  const state = await deps.service.resolve(request.merchantId, request.payoutId, {
    outcome, reason, actor, ...(outcome === 'succeeded' ? { channel_payout_no: request.channelPayoutNo } : {}),
  });
  return { payout: payoutToWire(state) };
}

const outcomes = new Map<PayoutResolutionOutcome, 'succeeded' | 'failed'>([
  [PayoutResolutionOutcome.PAYOUT_RESOLUTION_OUTCOME_SUCCEEDED, 'succeeded'],
  [PayoutResolutionOutcome.PAYOUT_RESOLUTION_OUTCOME_FAILED, 'failed'],
]);

/** A refund REQUIRES_MANUAL after it reached its channel, re-checked there by an operator, who
 * is recorded with the reason (the payment's actor refuses one that may not be re-checked). */
async function recheckRefund(request: P.RecheckRefundRequest, orders: Pick<OrdersClient, 'getRefund' | 'send'>, operator: string): Promise<P.RecheckRefundResponse> {
  const violations: FieldViolation[] = [];
  if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!isRefundId(request.refundId)) violations.push({ field: 'refund_id', description: "must be a refund id ('r' and 25 of a-z, 2-7)" });
  const reason = request.reason.trim();
  if (reason === '' || [...reason].length > 256) violations.push({ field: 'reason', description: 'is required: 1..256 characters' });
  if (violations.length > 0) throw invalidFields(violations);
  const found = await orders.getRefund(request.refundId);
  if (found === undefined || found.state.merchant_id !== request.merchantId) throw new PaycoreError('NOT_FOUND', `no refund ${request.refundId}`);
  const state = await orders.send({ type: 'recheck_refund', payment_id: found.state.payment_id, merchant_id: request.merchantId, refund_id: request.refundId, operator, reason });
  const refund = findRefund(state, request.refundId);
  if (refund === undefined) throw new PaycoreError('INTERNAL', `refund ${request.refundId} missing after its re-check`);
  return { refund: toRefund(state, refund), providerAnswer: refund.recheck?.answer ?? '' };
}

/** A refund past its channel's window or count, paid by a payout to the account supplied. */
async function payRefundByPayout(request: P.PayRefundByPayoutRequest, deps: PayoutAdminDeps, orders: Pick<OrdersClient, 'getRefund'>): Promise<P.PayRefundByPayoutResponse> {
  const violations: FieldViolation[] = [];
  if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!isRefundId(request.refundId)) violations.push({ field: 'refund_id', description: "must be a refund id ('r' and 25 of a-z, 2-7)" });
  checkPayee(request.payee, violations);
  if (request.channelId !== '' && !id_pattern.test(request.channelId)) violations.push({ field: 'channel_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
  if (violations.length > 0) throw invalidFields(violations);
  const found = await orders.getRefund(request.refundId);
  if (found === undefined || found.state.merchant_id !== request.merchantId) throw new PaycoreError('NOT_FOUND', `no refund ${request.refundId}`);
  const { state, refund } = found;
  const payable = refund.state === 'REQUIRES_MANUAL' && refund_codes_paid_by_payout.has(refund.failure?.code ?? '');
  if (!payable && refund.payout_id === undefined) {
    throw new PaycoreError('ILLEGAL_STATE', `refund ${refund.refund_id} is ${refund.state}${refund.failure === undefined ? '' : ` (${refund.failure.code})`}: only a refund past its channel's window or count is paid by payout`);
  }
  const payee = request.payee!;
  const attempt = await refundAttempt(deps, state.merchant_id, refund.refund_id, payable);
  const payout = await deps.service.create({
    merchant_id: state.merchant_id, merchant_payout_no: refundPayoutNo(refund.refund_id, attempt), amount_minor: refund.amount_minor, currency: state.currency,
    bank_code: payee.bankCode, payee: { account_no: payee.accountNo, account_name: payee.accountName }, purpose: 'refund',
    channel_id: request.channelId === '' ? undefined : request.channelId, refund: { payment_id: state.payment_id, refund_id: refund.refund_id },
  });
  const after = (await orders.getRefund(request.refundId)) ?? found;
  return { payout: payoutToWire(payout), refund: toRefund(after.state, after.refund) };
}

/** A refund's payout attempts: `refund:<refund_id>`, then `refund:<refund_id>:<n>`. */
const refundPayoutNo = (refund_id: string, attempt: number): string => (attempt === 1 ? `refund:${refund_id}` : `refund:${refund_id}:${attempt}`);

/** The attempt this request makes or answers: the latest one, unless it FAILED and the refund
 * still waits to be paid — then the next. A new attempt only after the previous one failed
 * (final: nothing paid), so at most one attempt is ever in flight or paid. Two operators racing
 * both name the same next attempt: one payout (the other, with another account, is refused). */
async function refundAttempt(deps: PayoutAdminDeps, merchant_id: string, refund_id: string, payable: boolean): Promise<number> {
  let attempt = 1;
  let latest = await deps.service.find(merchant_id, refundPayoutNo(refund_id, attempt));
  while (latest?.status === 'FAILED') {
    const next = await deps.service.find(merchant_id, refundPayoutNo(refund_id, attempt + 1));
    if (next === undefined) return payable ? attempt + 1 : attempt;
    attempt += 1;
    latest = next;
  }
  return attempt;
}

function accountToWire(account: SettlementAccount): P.SettlementAccount {
  return {
    merchantId: account.merchant_id, channelId: account.channel_id, bankCode: account.bank_code, accountLast4: account.payee_last4,
    since: account.since, updatedAt: account.updated_at,
  };
}

function deadToWire(seq: number, dead: DeadPayoutTimer): P.DeadPayoutTimer {
  const timer: PayoutTimer = dead.timer;
  return {
    seq: BigInt(seq), kind: timer.kind, payoutId: timer.kind === 'settlement' ? '' : timer.payout_id, batchId: timer.kind === 'settlement' ? timer.batch_id : '',
    attempt: timer.kind === 'settlement' ? timer.attempt : 0, failures: dead.failures, reason: dead.reason, deadAt: dead.dead_at === '' ? undefined : new Date(dead.dead_at),
  };
}
