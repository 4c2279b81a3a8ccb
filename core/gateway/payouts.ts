// PayoutService (proto/paycore/v1/payout.proto): create, get and list payouts (core/payouts).
// Every call names a merchant the caller may act for (checked before anything is read or
// written); another merchant's payout is NOT_FOUND like one that does not exist. Roles in
// core/auth/policy.ts.

import * as grpc from '@grpc/grpc-js';
import { PayoutServiceDefinition, PayoutStatus as WireStatus } from '../../proto/gen/paycore/v1/payout';
import type * as P from '../../proto/gen/paycore/v1/payout';
import { callerOf } from '../auth/guard';
import type { Caller } from '../auth/authenticator';
import { dependencyFailure, invalidFields, PaycoreError, toServiceError, type FieldViolation } from '../errors';
import { isPayoutId, isTransferId } from '../ids';
import { pageCursor, pageSize, pageToken } from './page-token';
import type { Logger } from '../log';
import type { PayoutBooks, PayoutRow } from '../payouts/books';
import type { PayoutService } from '../payouts/service';
import type { PayoutState, PayoutStatus } from '../payouts/types';
import type { Transfer, Transfers } from '../payouts/transfers';
import type { MemberWallet } from '../payouts/wallets';
import { grpcDefinition } from './admin';

export const payout_service = grpcDefinition(PayoutServiceDefinition);

export interface PayoutsDeps {
  service: Pick<PayoutService, 'create' | 'get'>;
  books: Pick<PayoutBooks, 'list'>;
  transfers: Pick<Transfers, 'create' | 'get'>;
  /** GetMemberWallet (core/payouts/wallets.ts). */
  wallet(merchant_id: string, member_id: string, currency: string): Promise<MemberWallet>;
}

const id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const payout_no_pattern = /^[A-Za-z0-9_-]{1,64}$/;

const to_wire: Record<PayoutStatus, WireStatus> = {
  PENDING: WireStatus.PAYOUT_STATUS_PENDING,
  PROCESSING: WireStatus.PAYOUT_STATUS_PROCESSING,
  SUCCEEDED: WireStatus.PAYOUT_STATUS_SUCCEEDED,
  FAILED: WireStatus.PAYOUT_STATUS_FAILED,
  REQUIRES_MANUAL: WireStatus.PAYOUT_STATUS_REQUIRES_MANUAL,
  RETURNED: WireStatus.PAYOUT_STATUS_RETURNED,
};
const from_wire = new Map<WireStatus, PayoutStatus>(Object.entries(to_wire).map(([domain, wire]) => [wire, domain as PayoutStatus]));

type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;

export function payoutService(payouts: PayoutsDeps | undefined, log: Logger): grpc.UntypedServiceImplementation {
  const unary = <Req, Res>(method: string, run: (request: Req, caller: Caller, deps: PayoutsDeps) => Promise<Res>): Handler<Req, Res> =>
    (call, callback) => {
      void (async () => {
        try {
          if (payouts === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set): payouts freeze their funds there');
          callback(null, await run(call.request, callerOf(call), payouts));
        } catch (error) {
          const known = asPaycoreError(error);
          if (known === undefined) log.error({ method, err: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 'payout call failed');
          callback(toServiceError(known ?? new PaycoreError('INTERNAL', 'internal error')) as grpc.ServiceError, null);
        }
      })();
    };
  return {
    createPayout: unary('CreatePayout', async (request: P.CreatePayoutRequest, caller, deps): Promise<P.CreatePayoutResponse> => {
      checkCreate(request);
      caller.requireMerchant(request.merchantId);
      const payee = request.payee!;
      const state = await deps.service.create({
        merchant_id: request.merchantId, merchant_payout_no: request.merchantPayoutNo, amount_minor: request.amount, currency: request.currency,
        bank_code: payee.bankCode,
        payee: { account_no: payee.accountNo, account_name: payee.accountName }, purpose: request.purpose === '' ? 'payout' : request.purpose,
        channel_id: request.channelId === '' ? undefined : request.channelId,
        ...(request.memberId === '' ? {} : { member_id: request.memberId }),
      });
      return { payout: toWire(state) };
    }),
    getPayout: unary('GetPayout', async (request: P.GetPayoutRequest, caller, deps): Promise<P.GetPayoutResponse> => {
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      if (!isPayoutId(request.payoutId)) violations.push({ field: 'payout_id', description: "must be a payout id ('o' and 25 of a-z, 2-7)" });
      if (violations.length > 0) throw invalidFields(violations);
      caller.requireMerchant(request.merchantId);
      return { payout: toWire(await deps.service.get(request.merchantId, request.payoutId)) };
    }),
    listPayouts: unary('ListPayouts', async (request: P.ListPayoutsRequest, caller, deps): Promise<P.ListPayoutsResponse> => {
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      const page_size = pageSize(request.pageSize, violations);
      const status = request.status === WireStatus.PAYOUT_STATUS_UNSPECIFIED ? undefined : from_wire.get(request.status);
      if (request.status !== WireStatus.PAYOUT_STATUS_UNSPECIFIED && status === undefined) violations.push({ field: 'status', description: 'is not a PayoutStatus' });
      const after = pageCursor(request.pageToken, violations);
      if (request.memberId !== '' && !id_pattern.test(request.memberId)) violations.push({ field: 'member_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
      if (violations.length > 0) throw invalidFields(violations);
      caller.requireMerchant(request.merchantId);
      const rows = await deps.books.list(request.merchantId, page_size + 1, after, status, request.memberId === '' ? undefined : request.memberId);
      const page = rows.slice(0, page_size);
      const last = page[page.length - 1];
      return {
        payouts: page.map((row) => rowToWire(request.merchantId, row)),
        nextPageToken: rows.length > page_size && last !== undefined ? pageToken({ created_at: last.created_at.toISOString(), id: last.payout_id }) : '',
      };
    }),
    createTransfer: unary('CreateTransfer', async (request: P.CreateTransferRequest, caller, deps): Promise<P.CreateTransferResponse> => {
      checkTransfer(request);
      caller.requireMerchant(request.merchantId);
      const to_member = request.toMemberId !== '';
      const from_member = request.fromMemberId !== '';
      const transfer = await deps.transfers.create({
        merchant_id: request.merchantId, merchant_transfer_no: request.merchantTransferNo,
        to_merchant_id: to_member || from_member ? request.merchantId : request.toMerchantId,
        amount_minor: request.amount, currency: request.currency, memo: request.memo, ...(to_member ? { to_member_id: request.toMemberId } : {}),
        ...(from_member ? { from_member_id: request.fromMemberId } : {}),
      });
      return { transfer: transferToWire(transfer) };
    }),
    getTransfer: unary('GetTransfer', async (request: P.GetTransferRequest, caller, deps): Promise<P.GetTransferResponse> => {
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      if (!isTransferId(request.transferId)) violations.push({ field: 'transfer_id', description: "must be a transfer id ('t' and 25 of a-z, 2-7)" });
      if (violations.length > 0) throw invalidFields(violations);
      caller.requireMerchant(request.merchantId);
      return { transfer: transferToWire(await deps.transfers.get(request.merchantId, request.transferId)) };
    }),
    getMemberWallet: unary('GetMemberWallet', getMemberWallet),
  };
}

async function getMemberWallet(request: P.GetMemberWalletRequest, caller: Caller, deps: PayoutsDeps): Promise<P.GetMemberWalletResponse> {
  const violations: FieldViolation[] = [];
  if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!id_pattern.test(request.memberId)) violations.push({ field: 'member_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!/^[A-Z]{3}$/.test(request.currency)) violations.push({ field: 'currency', description: 'must be an ISO 4217 code' });
  if (violations.length > 0) throw invalidFields(violations);
  caller.requireMerchant(request.merchantId);
  const wallet = await deps.wallet(request.merchantId, request.memberId, request.currency);
  return {
    wallet: {
      merchantId: wallet.merchant_id, memberId: wallet.member_id, currency: wallet.currency, balance: wallet.balance_minor, frozen: wallet.frozen_minor,
      withdrawnToday: wallet.withdrawn_today_minor, withdrawalMax: wallet.limits.withdrawal_max_minor, dailyMax: wallet.limits.daily_max_minor,
    },
  };
}

function checkTransfer(request: P.CreateTransferRequest): void {
  const violations: FieldViolation[] = [];
  if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!payout_no_pattern.test(request.merchantTransferNo)) violations.push({ field: 'merchant_transfer_no', description: 'is required: 1..64 of [A-Za-z0-9_-]' });
  if (request.fromMemberId !== '') {
    if (!id_pattern.test(request.fromMemberId)) violations.push({ field: 'from_member_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
    if (request.toMemberId !== '') violations.push({ field: 'to_member_id', description: 'must be empty when from_member_id is set (a member pays its merchant)' });
    if (request.toMerchantId !== '' && request.toMerchantId !== request.merchantId) violations.push({ field: 'to_merchant_id', description: 'must be empty or merchant_id when from_member_id is set' });
  } else if (request.toMemberId !== '') {
    if (!id_pattern.test(request.toMemberId)) violations.push({ field: 'to_member_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
    if (request.toMerchantId !== '' && request.toMerchantId !== request.merchantId) violations.push({ field: 'to_merchant_id', description: 'must be empty or merchant_id when to_member_id is set' });
  } else if (!id_pattern.test(request.toMerchantId)) violations.push({ field: 'to_merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  else if (request.toMerchantId === request.merchantId) violations.push({ field: 'to_merchant_id', description: 'must be another merchant than merchant_id' });
  if (request.amount <= 0n) violations.push({ field: 'amount', description: 'must be a positive number of minor units' });
  if (!/^[A-Z]{3}$/.test(request.currency)) violations.push({ field: 'currency', description: 'must be an ISO 4217 code' });
  if ([...request.memo].length > 64) violations.push({ field: 'memo', description: 'must be at most 64 characters' });
  if (violations.length > 0) throw invalidFields(violations);
}

function transferToWire(transfer: Transfer): P.Transfer {
  return {
    transferId: transfer.transfer_id, merchantId: transfer.merchant_id, merchantTransferNo: transfer.merchant_transfer_no,
    toMerchantId: transfer.to_merchant_id, amount: transfer.amount_minor, currency: transfer.currency, memo: transfer.memo,
    businessDate: transfer.business_date, createdAt: transfer.created_at, toMemberId: transfer.to_member_id ?? '',
    fromMemberId: transfer.from_member_id ?? '',
  };
}

function checkCreate(request: P.CreatePayoutRequest): void {
  const violations: FieldViolation[] = [];
  if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
  if (!payout_no_pattern.test(request.merchantPayoutNo)) violations.push({ field: 'merchant_payout_no', description: 'is required: 1..64 of [A-Za-z0-9_-]' });
  if (request.amount <= 0n) violations.push({ field: 'amount', description: 'must be a positive number of minor units' });
  if (!/^[A-Z]{3}$/.test(request.currency)) violations.push({ field: 'currency', description: 'must be an ISO 4217 code' });
  checkPayee(request.payee, violations);
  if ([...request.purpose].length > 64) violations.push({ field: 'purpose', description: 'must be at most 64 characters' });
  if (request.channelId !== '' && !id_pattern.test(request.channelId)) violations.push({ field: 'channel_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
  if (request.memberId !== '' && !id_pattern.test(request.memberId)) violations.push({ field: 'member_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
  if (violations.length > 0) throw invalidFields(violations);
}

/** The payee's fields, each violation named. */
export function checkPayee(payee: P.Payee | undefined, violations: FieldViolation[]): void {
  if (payee === undefined) {
    violations.push({ field: 'payee', description: 'is required' });
    return;
  }
  if (!/^[0-9]{8,32}$/.test(payee.accountNo)) violations.push({ field: 'payee.account_no', description: 'must be 8..32 digits' });
  if (payee.accountName.trim() === '' || [...payee.accountName].length > 64) violations.push({ field: 'payee.account_name', description: 'must be 1..64 characters' });
  if (!/^[A-Z0-9]{2,16}$/.test(payee.bankCode)) violations.push({ field: 'payee.bank_code', description: 'must be 2..16 of A-Z and 0-9' });
}

export function toWire(state: PayoutState): P.Payout {
  return {
    payoutId: state.payout_id, merchantId: state.merchant_id, merchantPayoutNo: state.merchant_payout_no, status: to_wire[state.status],
    amount: state.amount_minor,
    currency: state.currency, channelId: state.channel_id, bankCode: state.bank_code, accountLast4: state.payee_last4, purpose: state.purpose,
    failureCode: state.failure?.code ?? '', failureMessage: state.failure?.message ?? '', channelPayoutNo: state.channel_payout_no ?? '',
    createdAt: new Date(state.created_at), updatedAt: new Date(state.updated_at), paidAt: state.paid_at === undefined ? undefined : new Date(state.paid_at),
    memberId: state.member_id ?? '', resolvedBy: state.resolution?.actor ?? '', resolutionReason: state.resolution?.reason ?? '',
  };
}

function rowToWire(merchant_id: string, row: PayoutRow): P.Payout {
  return {
    payoutId: row.payout_id, merchantId: merchant_id, merchantPayoutNo: row.merchant_payout_no,
    status: to_wire[row.status as PayoutStatus] ?? WireStatus.PAYOUT_STATUS_UNSPECIFIED,
    amount: row.amount_minor, currency: row.currency, channelId: row.channel_id, bankCode: row.bank_code, accountLast4: row.payee_last4, purpose: '',
    failureCode: row.failure_code ?? '', failureMessage: '', channelPayoutNo: '', createdAt: row.created_at, updatedAt: row.updated_at, paidAt: undefined,
    memberId: row.member_id ?? '', resolvedBy: '', resolutionReason: '',
  };
}

/** PostgreSQL unreachable is a dependency failure; paycore's own errors pass as they are. */
export function asPaycoreError(error: unknown): PaycoreError | undefined {
  if (error instanceof PaycoreError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P0[1-3]|08\d{3})$/.test(code)) return dependencyFailure(error, 'PostgreSQL') as PaycoreError;
  return undefined;
}
