// SplitService (proto/paycore/v1/split.proto): create, get and list splits (core/splits). Every
// call names a merchant the caller may act for (checked before anything is read or written);
// another merchant's split or payment is NOT_FOUND like one that does not exist. Roles in
// core/auth/policy.ts.

import * as grpc from '@grpc/grpc-js';
import { SplitReceiverType, SplitServiceDefinition, SplitStatus as WireStatus } from '../../proto/gen/paycore/v1/split';
import type * as S from '../../proto/gen/paycore/v1/split';
import { callerOf } from '../auth/guard';
import type { Caller } from '../auth/authenticator';
import { invalidFields, PaycoreError, toServiceError, type FieldViolation } from '../errors';
import { isPaymentId, isSplitId } from '../ids';
import { pageCursor, pageSize, pageToken } from './page-token';
import type { Logger } from '../log';
import type { SplitBooks, SplitRow } from '../splits/books';
import type { SplitRules } from '../splits/rules';
import type { SplitRule as Rule } from '../splits/shares';
import type { SplitService } from '../splits/service';
import type { SplitState, SplitStatus } from '../splits/types';
import { grpcDefinition } from './admin';
import { asPaycoreError } from './payouts';
import type { SplitRule as S_Rule } from '../../proto/gen/paycore/v1/payment';

export const split_service = grpcDefinition(SplitServiceDefinition);

export interface SplitsDeps {
  service: Pick<SplitService, 'create' | 'get' | 'returnForRefund' | 'releaseCarried' | 'resolveReturn'>;
  books: Pick<SplitBooks, 'list' | 'returned'>;
  /** Split rules given with CreatePayment. */
  rules: Pick<SplitRules, 'save'>;
}

const id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const key_pattern = /^[A-Za-z0-9_-]{1,64}$/;
const receivers_max = 50;
const description_chars_max = 80;
/** A receiver's name: what RSA-OAEP (SHA-1) with a 2048-bit key carries to WeChat. */
const name_bytes_max = 214;

const to_wire: Record<SplitStatus, WireStatus> = {
  PENDING: WireStatus.SPLIT_STATUS_PENDING,
  PROCESSING: WireStatus.SPLIT_STATUS_PROCESSING,
  REQUIRES_MANUAL: WireStatus.SPLIT_STATUS_REQUIRES_MANUAL,
  SUCCEEDED: WireStatus.SPLIT_STATUS_SUCCEEDED,
  FAILED: WireStatus.SPLIT_STATUS_FAILED,
};

type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;

export function splitService(splits: SplitsDeps | undefined, log: Logger): grpc.UntypedServiceImplementation {
  const unary = <Req, Res>(method: string, run: (request: Req, caller: Caller, deps: SplitsDeps) => Promise<Res>): Handler<Req, Res> =>
    (call, callback) => {
      void (async () => {
        try {
          if (splits === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set): splits are posted there');
          callback(null, await run(call.request, callerOf(call), splits));
        } catch (error) {
          const known = asPaycoreError(error);
          if (known === undefined) log.error({ method, err: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 'split call failed');
          callback(toServiceError(known ?? new PaycoreError('INTERNAL', 'internal error')) as grpc.ServiceError, null);
        }
      })();
    };
  return {
    createSplit: unary('CreateSplit', async (request: S.CreateSplitRequest, caller, deps): Promise<S.CreateSplitResponse> => {
      checkCreate(request);
      caller.requireMerchant(request.merchantId);
      const state = await deps.service.create({
        merchant_id: request.merchantId, merchant_split_no: request.merchantSplitNo, payment_id: request.paymentId, description: request.description,
        receivers: request.receivers.map((r) => ({
          receiver_id: r.receiverId, amount_minor: r.amount, ...(r.type === SplitReceiverType.SPLIT_RECEIVER_TYPE_MEMBER ? { member: true as const } : {}),
          ...(r.name === '' ? {} : { name: r.name }),
        })),
        finish: request.finish,
      });
      return { split: splitToWire(state, await deps.books.returned(state.split_id)) };
    }),
    getSplit: unary('GetSplit', async (request: S.GetSplitRequest, caller, deps): Promise<S.GetSplitResponse> => {
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      if (!isSplitId(request.splitId)) violations.push({ field: 'split_id', description: "must be a split id ('s' and 25 of a-z, 2-7)" });
      if (violations.length > 0) throw invalidFields(violations);
      caller.requireMerchant(request.merchantId);
      const state = await deps.service.get(request.merchantId, request.splitId);
      return { split: splitToWire(state, await deps.books.returned(state.split_id)) };
    }),
    listSplits: unary('ListSplits', async (request: S.ListSplitsRequest, caller, deps): Promise<S.ListSplitsResponse> => {
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      if (request.paymentId !== '' && !isPaymentId(request.paymentId)) violations.push({ field: 'payment_id', description: "must be a payment id ('p' and 25 of a-z, 2-7)" });
      const page_size = pageSize(request.pageSize, violations);
      const after = pageCursor(request.pageToken, violations);
      if (violations.length > 0) throw invalidFields(violations);
      caller.requireMerchant(request.merchantId);
      const rows = await deps.books.list(request.merchantId, page_size + 1, after, request.paymentId === '' ? undefined : request.paymentId);
      const page = rows.slice(0, page_size);
      const last = page[page.length - 1];
      return {
        splits: page.map((row) => rowToWire(request.merchantId, row)),
        nextPageToken: rows.length > page_size && last !== undefined ? pageToken({ created_at: last.created_at.toISOString(), id: last.split_id }) : '',
      };
    }),
  };
}

function checkCreate(request: S.CreateSplitRequest): void {
  const violations: FieldViolation[] = [];
  if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!key_pattern.test(request.merchantSplitNo)) violations.push({ field: 'merchant_split_no', description: 'is required: 1..64 of [A-Za-z0-9_-]' });
  if (!isPaymentId(request.paymentId)) violations.push({ field: 'payment_id', description: "must be a payment id ('p' and 25 of a-z, 2-7)" });
  if ((request.receivers.length === 0 && !request.finish) || request.receivers.length > receivers_max) {
    violations.push({ field: 'receivers', description: `must hold 1..${receivers_max} receivers (none only with finish: an unfreeze)` });
  }
  const seen = new Set<string>();
  request.receivers.slice(0, receivers_max).forEach((receiver, i) => {
    const member = receiver.type === SplitReceiverType.SPLIT_RECEIVER_TYPE_MEMBER;
    if (receiver.type !== SplitReceiverType.SPLIT_RECEIVER_TYPE_UNSPECIFIED && !member) violations.push({ field: `receivers[${i}].type`, description: 'is not a SplitReceiverType' });
    if (member && !id_pattern.test(receiver.receiverId)) violations.push({ field: `receivers[${i}].receiver_id`, description: "is a member's id: 1..32 of [A-Za-z0-9_-]" });
    else if (!key_pattern.test(receiver.receiverId)) violations.push({ field: `receivers[${i}].receiver_id`, description: 'is required: 1..64 of [A-Za-z0-9_-]' });
    else if (seen.has(receiver.receiverId)) violations.push({ field: `receivers[${i}].receiver_id`, description: 'names a receiver listed before' });
    seen.add(receiver.receiverId);
    if (receiver.amount <= 0n) violations.push({ field: `receivers[${i}].amount`, description: 'must be a positive number of minor units' });
    if (receiver.returnedAmount !== 0n) violations.push({ field: `receivers[${i}].returned_amount`, description: 'is output only: leave it 0' });
    if (receiver.returnRequiresManual) violations.push({ field: `receivers[${i}].return_requires_manual`, description: 'is output only: leave it false' });
    if (Buffer.byteLength(receiver.name, 'utf8') > name_bytes_max) violations.push({ field: `receivers[${i}].name`, description: `must be at most ${name_bytes_max} bytes of UTF-8` });
  });
  if ([...request.description].length > description_chars_max) violations.push({ field: 'description', description: `must be at most ${description_chars_max} characters` });
  if (violations.length > 0) throw invalidFields(violations);
}

/** CreatePayment's split_rules: each receiver once, a fixed amount or a ratio (never both);
 * the fixed amounts within the payment's amount, the ratios within 10000 basis points. */
export function validateSplitRules(rules: readonly S_Rule[], amount: bigint): FieldViolation[] {
  const violations: FieldViolation[] = [];
  if (rules.length > receivers_max) violations.push({ field: 'split_rules', description: `must hold at most ${receivers_max} rules` });
  const seen = new Set<string>();
  let fixed = 0n;
  let ratio = 0;
  rules.slice(0, receivers_max).forEach((rule, i) => {
    const field = (name: string) => `split_rules[${i}].${name}`;
    if (!key_pattern.test(rule.receiverId)) violations.push({ field: field('receiver_id'), description: 'is required: 1..64 of [A-Za-z0-9_-]' });
    else if (seen.has(rule.receiverId)) violations.push({ field: field('receiver_id'), description: 'names a receiver listed before' });
    seen.add(rule.receiverId);
    if (rule.amount < 0n) violations.push({ field: field('amount'), description: 'must not be negative' });
    if (rule.ratioBp > 10_000) violations.push({ field: field('ratio_bp'), description: 'must be at most 10000' });
    if (Buffer.byteLength(rule.name, 'utf8') > name_bytes_max) violations.push({ field: field('name'), description: `must be at most ${name_bytes_max} bytes of UTF-8` });
    if ((rule.amount > 0n) === (rule.ratioBp > 0)) violations.push({ field: field('amount'), description: 'set exactly one of amount and ratio_bp' });
    if (rule.amount > 0n) fixed += rule.amount;
    ratio += rule.ratioBp;
  });
  if (fixed > amount) violations.push({ field: 'split_rules', description: 'the fixed amounts together exceed the amount' });
  if (ratio > 10_000) violations.push({ field: 'split_rules', description: 'the ratios together exceed 10000 basis points' });
  return violations;
}

/** The rules as the split module keeps them. */
export function splitRulesOf(rules: readonly S_Rule[]): Rule[] {
  return rules.map((r) => ({ receiver_id: r.receiverId, amount_minor: r.amount, ratio_bp: r.ratioBp, ...(r.name === '' ? {} : { name: r.name }) }));
}

/** A split on the wire (SplitService, SplitAdminService). */
export function splitToWire(state: SplitState, returned: ReadonlyMap<number, bigint>): S.Split {
  return {
    splitId: state.split_id, merchantId: state.merchant_id, merchantSplitNo: state.merchant_split_no, paymentId: state.payment_id,
    status: to_wire[state.status], amount: state.amount_minor, currency: state.currency, description: state.description,
    receivers: state.receivers.map((r, i) => ({
      receiverId: r.receiver_id, amount: r.amount_minor, returnedAmount: returned.get(i + 1) ?? 0n,
      returnRequiresManual: state.returns.some((x) => x.line_no === i + 1 && x.status === 'REQUIRES_MANUAL'),
      type: r.member === true ? SplitReceiverType.SPLIT_RECEIVER_TYPE_MEMBER : SplitReceiverType.SPLIT_RECEIVER_TYPE_UNSPECIFIED,
      // Input only: never returned.
      name: '',
    })),
    failureCode: state.failure?.code ?? '', failureMessage: state.failure?.message ?? '', createdAt: new Date(state.created_at), updatedAt: new Date(state.updated_at),
    channelId: state.channel?.channel_id ?? '', channelSplitNo: state.channel_split_no ?? '', finish: state.finish === true,
  };
}

function rowToWire(merchant_id: string, row: SplitRow): S.Split {
  return {
    splitId: row.split_id, merchantId: merchant_id, merchantSplitNo: row.merchant_split_no, paymentId: row.payment_id,
    status: to_wire[row.status as SplitStatus] ?? WireStatus.SPLIT_STATUS_UNSPECIFIED, amount: row.amount_minor, currency: row.currency, receivers: [],
    description: '', failureCode: row.failure_code ?? '', failureMessage: '', createdAt: row.created_at, updatedAt: row.updated_at,
    channelId: row.channel_id ?? '', channelSplitNo: row.channel_split_no ?? '', finish: row.finish,
  };
}
