// LedgerService (proto/paycore/v1/ledger.proto): finance queries and operations over the books
// in PostgreSQL (core/ledger). Each call is scoped to the caller's merchants like every other
// RPC; the platform-wide calls need an app whose merchants are '*'. The role each method needs
// is in core/auth/policy.ts.

import * as grpc from '@grpc/grpc-js';
import { LedgerServiceDefinition } from '../../proto/gen/paycore/v1/ledger';
import type * as L from '../../proto/gen/paycore/v1/ledger';
import { PaymentStatus, Product } from '../../proto/gen/paycore/v1/payment';
import { callerOf } from '../auth/guard';
import type { Caller } from '../auth/authenticator';
import { dependencyFailure, invalidFields, PaycoreError, toServiceError, type FieldViolation } from '../errors';
import { exportMerchantDay, LedgerError, listAccountEntries, listPayments, listRefunds, type AccountEntryFilter, type LedgerStore } from '../ledger/store';
import { pageCursor, pageSize, pageToken } from './page-token';
import type { Logger } from '../log';
import { default_book_settings, type MerchantBookSettings } from '../ledger/rules';
import type { PaymentStatus as DomainStatus } from '../orders/types';
import { grpcDefinition } from './admin';
import { paymentStatusToWire, productFromWire, productToWire } from './wire-enums';

export const ledger_service = grpcDefinition(LedgerServiceDefinition);

const id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const hold_id_pattern = /^[A-Za-z0-9_-]{1,64}$/;
const date_pattern = /^\d{4}-\d{2}-\d{2}$/;
const currency_pattern = /^[A-Z]{3}$/;

type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;

/** A unary method over the books: refused when this paycore keeps none; a PaycoreError crosses
 * as its code, anything else is logged and answered INTERNAL. */
function unaryOver(store: LedgerStore | undefined, log: Logger) {
  return <Req, Res>(method: string, run: (request: Req, caller: Caller, books: LedgerStore) => Promise<Res>): Handler<Req, Res> =>
    (call, callback) => {
      void (async () => {
        try {
          if (store === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set)');
          callback(null, await run(call.request, callerOf(call), store));
        } catch (error) {
          const known = asPaycoreError(error);
          if (known === undefined) log.error({ method, err: String(error) }, 'ledger call failed');
          callback(toServiceError(known ?? new PaycoreError('INTERNAL', 'internal error')) as grpc.ServiceError, null);
        }
      })();
    };
}

export function ledgerService(store: LedgerStore | undefined, log: Logger): grpc.UntypedServiceImplementation {
  const unary = unaryOver(store, log);
  return {
    listPayments: unary('ListPayments', listPaymentsHandler),
    listRefunds: unary('ListRefunds', listRefundsHandler),
    listAccountEntries: unary('ListAccountEntries', listAccountEntriesHandler),
    getBalances: unary('GetBalances', async (request: L.GetBalancesRequest, caller, books): Promise<L.GetBalancesResponse> => {
      requireMerchant(request.merchantId, caller);
      const rows = await books.balances(request.merchantId);
      return { accounts: rows.map((r) => ({ code: r.code, owner: r.owner, currency: r.currency, balance: r.balance_minor })) };
    }),
    getTrialBalance: unary('GetTrialBalance', async (request: L.GetTrialBalanceRequest, caller, books): Promise<L.GetTrialBalanceResponse> => {
      requirePlatform(caller);
      if (request.throughDate !== '') checkDate(request.throughDate, 'through_date');
      const trial = await books.trialBalance(request.throughDate === '' ? undefined : request.throughDate);
      return {
        rows: trial.rows.map((r) => ({ code: r.code, currency: r.currency, debit: r.debit_minor, credit: r.credit_minor })),
        debitTotal: trial.debit_total_minor,
        creditTotal: trial.credit_total_minor,
        balanced: trial.balanced,
      };
    }),
    closeDay: unary('CloseDay', async (request: L.CloseDayRequest, caller, books): Promise<L.CloseDayResponse> => {
      requirePlatform(caller);
      checkDate(request.businessDate, 'business_date');
      const closed = await books.closeDay(request.businessDate);
      return { debitTotal: closed.debit_total_minor, creditTotal: closed.credit_total_minor };
    }),
    runSettlement: unary('RunSettlement', async (request: L.RunSettlementRequest, caller, books): Promise<L.RunSettlementResponse> => {
      requirePlatform(caller);
      checkDate(request.businessDate, 'business_date');
      const batches = await books.settle(request.businessDate);
      return { batches: batches.map((b) => ({ batchId: b.batch_id, merchantId: b.merchant_id, currency: b.currency, amount: b.amount_minor })) };
    }),
    placeHold: unary('PlaceHold', async (request: L.PlaceHoldRequest, caller, books): Promise<L.PlaceHoldResponse> => {
      const violations: FieldViolation[] = [];
      if (!hold_id_pattern.test(request.holdId)) violations.push({ field: 'hold_id', description: 'must be 1..64 of [A-Za-z0-9_-]' });
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
      if (!currency_pattern.test(request.currency)) violations.push({ field: 'currency', description: 'must be an ISO 4217 code' });
      if (request.amount <= 0n) violations.push({ field: 'amount', description: 'must be positive' });
      if (request.reason.length < 1 || request.reason.length > 256) violations.push({ field: 'reason', description: 'must be 1..256 characters' });
      if (violations.length > 0) throw invalidFields(violations);
      caller.requireMerchant(request.merchantId);
      await books.placeHold(request.holdId, request.merchantId, request.currency, request.amount, request.reason, { source: 'operator' });
      return {};
    }),
    exportMerchantDay: (call: grpc.ServerWritableStream<L.ExportMerchantDayRequest, L.ExportMerchantDayResponse>) => void exportDay(call, store, log),
    getMerchantBookSettings: unary('GetMerchantBookSettings', async (request: L.GetMerchantBookSettingsRequest, caller, books): Promise<L.GetMerchantBookSettingsResponse> => {
      requireMerchant(request.merchantId, caller);
      return { settings: toWireSettings((await books.settingsOf(books.pool, [request.merchantId])).get(request.merchantId) ?? default_book_settings) };
    }),
    setMerchantBookSettings: unary('SetMerchantBookSettings', async (request: L.SetMerchantBookSettingsRequest, caller, books): Promise<L.SetMerchantBookSettingsResponse> => {
      requirePlatform(caller);
      const wire = request.settings;
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      if (wire === undefined) violations.push({ field: 'settings', description: 'is required' });
      else {
        if (wire.settlementDays > 30) violations.push({ field: 'settings.settlement_days', description: 'must be 0..30' });
        if (wire.overdraftLimit < 0n) violations.push({ field: 'settings.overdraft_limit', description: 'must not be negative' });
        if (!wire.refundOverdraft && wire.overdraftLimit !== 0n) violations.push({ field: 'settings.overdraft_limit', description: 'needs refund_overdraft' });
      }
      if (violations.length > 0 || wire === undefined) throw invalidFields(violations);
      const settings: MerchantBookSettings = { settlement_days: wire.settlementDays, refund_fee_policy: wire.refundReturnsFee ? 'returned' : 'kept', refund_funding: wire.refundOverdraft ? 'overdraft' : 'refuse', overdraft_limit_minor: wire.overdraftLimit };
      await books.setMerchantSettings(request.merchantId, settings);
      return { settings: toWireSettings(settings) };
    }),
    releaseHold: unary('ReleaseHold', async (request: L.ReleaseHoldRequest, caller, books): Promise<L.ReleaseHoldResponse> => {
      requireMerchant(request.merchantId, caller);
      if (!hold_id_pattern.test(request.holdId)) throw invalidFields([{ field: 'hold_id', description: 'must be 1..64 of [A-Za-z0-9_-]' }]);
      await books.releaseHold(request.holdId, request.merchantId);
      return {};
    }),
  };
}

/** ExportMerchantDay: the CSV in chunks, each written when the stream can take it. */
async function exportDay(
  call: grpc.ServerWritableStream<L.ExportMerchantDayRequest, L.ExportMerchantDayResponse>,
  store: LedgerStore | undefined,
  log: Logger,
): Promise<void> {
  try {
    if (store === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set)');
    requireMerchant(call.request.merchantId, callerOf(call));
    checkDate(call.request.businessDate, 'business_date');
    for await (const text of exportMerchantDay(store.pool, call.request.merchantId, call.request.businessDate)) {
      if (call.cancelled) return;
      if (!call.write({ chunk: Buffer.from(text, 'utf8') })) await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
  } catch (error) {
    const known = asPaycoreError(error);
    if (known === undefined) log.error({ method: 'ExportMerchantDay', err: String(error) }, 'ledger call failed');
    const reported = known ?? new PaycoreError('INTERNAL', 'internal error');
    // emit('error') sends the status at once (destroy() would leave the client waiting).
    call.emit('error', Object.assign(new Error(reported.message), toServiceError(reported)));
  }
}

function toWireSettings(settings: MerchantBookSettings): L.MerchantBookSettings {
  return { settlementDays: settings.settlement_days, refundReturnsFee: settings.refund_fee_policy === 'returned', refundOverdraft: settings.refund_funding === 'overdraft', overdraftLimit: settings.overdraft_limit_minor };
}

async function listPaymentsHandler(request: L.ListPaymentsRequest, caller: Caller, books: LedgerStore): Promise<L.ListPaymentsResponse> {
  requireMerchant(request.merchantId, caller);
  const violations: FieldViolation[] = [];
  if (request.channelId !== '' && !id_pattern.test(request.channelId)) violations.push({ field: 'channel_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
  const product = request.product === Product.PRODUCT_UNSPECIFIED ? undefined : productFromWire(request.product);
  if (request.product !== Product.PRODUCT_UNSPECIFIED && product === undefined) violations.push({ field: 'product', description: 'is not a known product' });
  const status = request.status === PaymentStatus.PAYMENT_STATUS_UNSPECIFIED ? undefined : statusName(request.status);
  if (request.status !== PaymentStatus.PAYMENT_STATUS_UNSPECIFIED && status === undefined) violations.push({ field: 'status', description: 'is not a known status' });
  checkOrderNo(request.merchantOrderNo, violations);
  const page_size = pageSize(request.pageSize, violations);
  const after = pageCursor(request.pageToken, violations);
  if (violations.length > 0) throw invalidFields(violations);
  const rows = await listPayments(books.pool, {
    merchant_id: request.merchantId, created_from: request.createdFrom, created_to: request.createdTo, status, channel_id: request.channelId || undefined,
    product,
    merchant_order_no: request.merchantOrderNo || undefined, page_size: page_size + 1, after,
  });
  const page = rows.slice(0, page_size);
  const last = page[page.length - 1];
  return {
    payments: page.map((r) => ({
      paymentId: r.payment_id, merchantOrderNo: r.merchant_order_no, status: paymentStatusToWire(r.status as DomainStatus), product: productToWire(r.product as never), channelId: r.channel_id ?? '',
      currency: r.currency, amount: r.amount_minor, refundedAmount: r.refunded_minor, fee: r.paid_at === null ? 0n : r.merchant_fee_minor,
      createdAt: r.created_at, paidAt: r.paid_at ?? undefined,
    })),
    nextPageToken: rows.length > page_size && last !== undefined ? pageToken({ created_at: last.created_at.toISOString(), id: last.payment_id }) : '',
  };
}

async function listRefundsHandler(request: L.ListRefundsRequest, caller: Caller, books: LedgerStore): Promise<L.ListRefundsResponse> {
  requireMerchant(request.merchantId, caller);
  const violations: FieldViolation[] = [];
  if (request.state !== '' && !refund_states.has(request.state)) violations.push({ field: 'state', description: `must be one of ${[...refund_states].join(', ')}` });
  checkOrderNo(request.merchantOrderNo, violations);
  const page_size = pageSize(request.pageSize, violations);
  const after = pageCursor(request.pageToken, violations);
  if (violations.length > 0) throw invalidFields(violations);
  const rows = await listRefunds(books.pool, {
    merchant_id: request.merchantId, created_from: request.createdFrom, created_to: request.createdTo, state: request.state || undefined,
    merchant_order_no: request.merchantOrderNo || undefined, page_size: page_size + 1, after,
  });
  const page = rows.slice(0, page_size);
  const last = page[page.length - 1];
  return {
    refunds: page.map((r) => ({
      refundId: r.refund_id, paymentId: r.payment_id, merchantRefundNo: r.merchant_refund_no, state: r.state, currency: r.currency, amount: r.amount_minor,
      createdAt: r.created_at,
    })),
    nextPageToken: rows.length > page_size && last !== undefined ? pageToken({ created_at: last.created_at.toISOString(), id: last.refund_id }) : '',
  };
}

const refund_states = new Set(['PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REQUIRES_MANUAL']);
const merchant_accounts = new Set<AccountEntryFilter['code']>(['merchant_pending', 'merchant_available', 'merchant_frozen']);

function checkOrderNo(value: string, violations: FieldViolation[]): void {
  if (value.length > 64) violations.push({ field: 'merchant_order_no', description: 'must be at most 64 characters' });
}

async function listAccountEntriesHandler(request: L.ListAccountEntriesRequest, caller: Caller, books: LedgerStore): Promise<L.ListAccountEntriesResponse> {
  requireMerchant(request.merchantId, caller);
  const violations: FieldViolation[] = [];
  const code = request.accountCode as AccountEntryFilter['code'];
  if (!merchant_accounts.has(code)) violations.push({ field: 'account_code', description: `must be one of ${[...merchant_accounts].join(', ')}` });
  if (!currency_pattern.test(request.currency)) violations.push({ field: 'currency', description: 'must be an ISO 4217 code' });
  for (const [field, value] of [['from_date', request.fromDate], ['to_date', request.toDate]] as const) {
    if (value !== '' && !isDate(value)) violations.push({ field, description: 'must be a date YYYY-MM-DD' });
  }
  if (violations.length === 0 && request.fromDate !== '' && request.toDate !== '' && request.fromDate > request.toDate) violations.push({ field: 'to_date', description: 'must not be before from_date' });
  const page_size = pageSize(request.pageSize, violations);
  const after = entryCursorOf(request.pageToken, violations);
  if (violations.length > 0) throw invalidFields(violations);
  const rows = await listAccountEntries(books.pool, {
    merchant_id: request.merchantId,
    code,
    currency: request.currency,
    from_date: request.fromDate || undefined,
    to_date: request.toDate || undefined,
    page_size: page_size + 1,
    after,
  });
  const page = rows.slice(0, page_size);
  const last = page[page.length - 1];
  return {
    entries: page.map((r) => ({ entryId: r.entry_id, lineNo: r.line_no, txnCode: r.txn_code, businessDate: r.business_date, postedAt: r.posted_at, paymentId: r.payment_id ?? '', refId: r.ref_id ?? '', debit: r.debit_minor, credit: r.credit_minor })),
    nextPageToken: rows.length > page_size && last !== undefined ? Buffer.from(JSON.stringify([String(last.entry_id), last.line_no])).toString('base64url') : '',
  };
}

function entryCursorOf(token: string, violations: FieldViolation[]): AccountEntryFilter['after'] {
  if (token === '') return undefined;
  try {
    const [entry_id, line_no] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (typeof entry_id === 'string' && /^\d{1,18}$/.test(entry_id) && typeof line_no === 'number' && Number.isInteger(line_no) && line_no >= 0 && line_no < 2 ** 31) return { entry_id: BigInt(entry_id), line_no };
  } catch {
    // reported below
  }
  violations.push({ field: 'page_token', description: 'is not a token this call returned' });
  return undefined;
}

function requireMerchant(merchant_id: string, caller: Caller): void {
  if (!id_pattern.test(merchant_id)) throw invalidFields([{ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' }]);
  caller.requireMerchant(merchant_id);
}

function requirePlatform(caller: Caller): void {
  if (!caller.all_merchants) throw new PaycoreError('FORBIDDEN', `app ${caller.app_id} acts for some merchants only; this call covers them all`);
}

function isDate(value: string): boolean {
  return date_pattern.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`));
}

function checkDate(value: string, field: string): void {
  if (!isDate(value)) throw invalidFields([{ field, description: 'must be a date YYYY-MM-DD' }]);
}

const wire_statuses: Record<number, DomainStatus> = {
  [PaymentStatus.PAYMENT_STATUS_CREATED]: 'CREATED',
  [PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION]: 'REQUIRES_ACTION',
  [PaymentStatus.PAYMENT_STATUS_PROCESSING]: 'PROCESSING',
  [PaymentStatus.PAYMENT_STATUS_SUCCEEDED]: 'SUCCEEDED',
  [PaymentStatus.PAYMENT_STATUS_FAILED]: 'FAILED',
  [PaymentStatus.PAYMENT_STATUS_CLOSED]: 'CLOSED',
  [PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED]: 'PARTIALLY_REFUNDED',
  [PaymentStatus.PAYMENT_STATUS_REFUNDED]: 'REFUNDED',
  [PaymentStatus.PAYMENT_STATUS_REVERSED]: 'REVERSED',
};

function statusName(status: PaymentStatus): DomainStatus | undefined {
  return wire_statuses[status];
}

/** The books' own refusals as paycore's error reasons; PostgreSQL unreachable is a dependency. */
export function asPaycoreError(error: unknown): PaycoreError | undefined {
  if (error instanceof PaycoreError) return error;
  if (error instanceof LedgerError) {
    const reason = { INVALID_ARGUMENT: 'INVALID_FIELD', FAILED_PRECONDITION: 'ILLEGAL_STATE', NOT_FOUND: 'NOT_FOUND', ALREADY_EXISTS: 'IDEMPOTENCY_KEY_REUSED' } as const;
    return new PaycoreError(reason[error.reason], error.message);
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P0[1-3]|08\d{3})$/.test(code)) return dependencyFailure(error, 'PostgreSQL') as PaycoreError;
  return undefined;
}
