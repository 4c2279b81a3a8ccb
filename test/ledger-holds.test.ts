// Integration: a merchant held by risk on the books, and the books' finance queries, through
// paycore's gRPC, the sandbox PSP and a PostgreSQL database of this run's own. RiskAdminService
// HoldMerchant freezes the merchant's available balance (a HOLD entry), stops its settlement
// and leaves the frozen money out of refund funding; ReleaseMerchantHold undoes all three.
// LedgerService ListAccountEntries pages a merchant account's lines by token; ListRefunds
// filters by state and merchant order number; each call is scoped to the caller.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { ledgerConsumerName } from '../core/ledger/projection';
import { LedgerStore } from '../core/ledger/store';
import type { AccountCode } from '../core/ledger/rules';
import { ledger_service } from '../core/gateway/ledger';
import { risk_admin_service } from '../core/gateway/risk-admin';
import { decodeServiceError } from '../core/errors';
import { PaymentStatus, Product, type CreateRefundRequest, type CreateRefundResponse, type Payment } from '../proto/gen/paycore/v1/payment';
import type { AccountEntry, ListAccountEntriesResponse, ListPaymentsResponse, ListRefundsResponse, RunSettlementResponse } from '../proto/gen/paycore/v1/ledger';
import type { HoldMerchantResponse, ListMerchantHoldsResponse, ReleaseMerchantHoldResponse } from '../proto/gen/paycore/v1/admin';
import { defaultRouting, eventually, startStack, type Stack } from './harness';

const merchant = 'm_it';

let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false }); // paycore migrates it at boot
  const routing = defaultRouting() as { merchants: { merchant_id: string; fee_rates: Record<string, unknown> }[]; apps: unknown[] };
  for (const m of routing.merchants) if (m.merchant_id === merchant) m.fee_rates = { WECHAT_NATIVE: { rate_bp: 60, fixed_minor: '0', min_minor: '0' } };
  routing.apps.push({ app_id: 'it_other', merchants: ['m_sa'], roles: ['payments:read', 'ledger:read', 'ledger:write'] });
  stack = await startStack({ routing, env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' } });
  store = new LedgerStore(db.url);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await store?.close();
  await db?.drop();
});

function call<T>(client: Client, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: grpc.ServiceError) => decodeServiceError(e));

async function balance(code: AccountCode): Promise<bigint> {
  return (await store.balances(merchant)).find((r) => r.code === code && r.currency === 'CNY')?.balance_minor ?? 0n;
}

async function paid(amount: bigint, order_no = `hold-${randomBytes(6).toString('hex')}`): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: order_no, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'holds' });
  await stack.pay(`${payment.paymentId}a1`);
  await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 15_000, 'paid');
  return payment;
}

async function caughtUp(): Promise<void> {
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  try {
    const last = (await (await jetstreamManager(nc)).streams.info(`${stack.prefix.toUpperCase()}_PAY_EVENTS`)).state.last_seq;
    await eventually(async () => ((await store.progress(ledgerConsumerName(stack.prefix))) >= last ? true : undefined), 20_000, `the books at stream sequence ${last}`);
  } finally {
    await nc.close();
  }
}

function createRefund(payment_id: string, amount: bigint): Promise<CreateRefundResponse> {
  const full: CreateRefundRequest = { merchantId: merchant, merchantRefundNo: `rf-${randomBytes(6).toString('hex')}`, paymentId: payment_id, merchantOrderNo: '', amount, reason: '', notifyUrl: '' };
  return new Promise((resolve, reject) =>
    stack.client.raw.createRefund(full, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (error, value) =>
      error ? reject(error) : resolve(value!),
    ),
  );
}

const dayAfter = (date: string, days: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

test('ledger holds - a merchant held by risk: its available balance frozen, its settlement stopped, frozen money funds no refund; the release undoes it', async () => {
  const ledger = stack.serviceClient<Client>(ledger_service, 'LedgerService');
  const risk = stack.serviceClient<Client>(risk_admin_service, 'RiskAdminService');
  const other = stack.serviceClient<Client>(risk_admin_service, 'RiskAdminService', stack.auth('it_other'));
  try {
    const first = await paid(100_000n); // the merchant is owed 99 400 (fee 600)
    await caughtUp();
    const today = (await store.entriesOf(first.paymentId))[0]!.business_date;
    const settled = await call<RunSettlementResponse>(ledger, 'runSettlement', { businessDate: dayAfter(today, 1) });
    expect(settled.batches.find((b) => b.merchantId === merchant)?.amount).toBe(99_400n);
    const second = await paid(50_000n); // 49 700 pending
    await caughtUp();
    expect(await balance('merchant_available')).toBe(99_400n);
    expect(await balance('merchant_pending')).toBe(49_700n);

    // Bad input names the field; an app without admin:risk is refused before anything happens.
    const bad = await refusal(call(risk, 'holdMerchant', { holdId: 'risk 1', merchantId: merchant, currency: 'CNY', amount: 0n, reason: '' }));
    expect(bad?.violations.map((v) => v.field).sort()).toEqual(['amount', 'hold_id', 'reason']);
    expect((await refusal(call(other, 'holdMerchant', { holdId: 'risk-x', merchantId: merchant, currency: 'CNY', reason: 'no' })))?.reason).toBe('FORBIDDEN');
    expect((await refusal(call(risk, 'holdMerchant', { holdId: 'risk-big', merchantId: merchant, currency: 'CNY', amount: 99_401n, reason: 'too much' })))?.reason).toBe('ILLEGAL_STATE');

    // The whole available balance, frozen.
    const held = await call<HoldMerchantResponse>(risk, 'holdMerchant', { holdId: 'risk-1', merchantId: merchant, currency: 'CNY', reason: 'chargeback spike' });
    expect(held.hold).toMatchObject({ holdId: 'risk-1', merchantId: merchant, amount: 99_400n, source: 'risk', blocksSettlement: true, releasedAt: undefined });
    expect(await balance('merchant_available')).toBe(0n);
    expect(await balance('merchant_frozen')).toBe(99_400n);
    expect((await refusal(call(risk, 'holdMerchant', { holdId: 'risk-1', merchantId: merchant, currency: 'CNY', reason: 'again' })))?.reason).toBe('IDEMPOTENCY_KEY_REUSED');
    const frozen = await call<ListAccountEntriesResponse>(ledger, 'listAccountEntries', { merchantId: merchant, accountCode: 'merchant_frozen', currency: 'CNY', fromDate: '', toDate: '', pageSize: 0, pageToken: '' });
    expect(frozen.entries.map((e) => [e.txnCode, e.refId, e.debit, e.credit])).toEqual([['HOLD', 'risk-1', 0n, 99_400n]]);

    // Frozen money funds no refund: 49 700 pending is all there is.
    const refused = await refusal(createRefund(first.paymentId, 60_000n));
    expect(refused?.reason).toBe('INSUFFICIENT_BALANCE');
    expect(refused?.message).toMatch(/balance 49700 CNY cannot fund a refund of 60000/);
    // The cut-off leaves a held merchant's pending money pending.
    const while_held = await call<RunSettlementResponse>(ledger, 'runSettlement', { businessDate: dayAfter(today, 2) });
    expect(while_held.batches.filter((b) => b.merchantId === merchant)).toEqual([]);
    expect(await balance('merchant_pending')).toBe(49_700n);
    const listed = await call<ListMerchantHoldsResponse>(risk, 'listMerchantHolds', { merchantId: merchant });
    expect(listed.holds.map((h) => [h.holdId, h.source, h.amount, h.releasedAt === undefined])).toEqual([['risk-1', 'risk', 99_400n, true]]);

    // Released: back to available, and the next cut-off settles what waited.
    expect((await refusal(call(risk, 'releaseMerchantHold', { holdId: 'risk-1', merchantId: 'm_sa' })))?.reason).toBe('NOT_FOUND');
    const released = await call<ReleaseMerchantHoldResponse>(risk, 'releaseMerchantHold', { holdId: 'risk-1', merchantId: merchant });
    expect(released.hold?.releasedAt).toBeInstanceOf(Date);
    expect(await balance('merchant_frozen')).toBe(0n);
    expect(await balance('merchant_available')).toBe(99_400n);
    expect((await refusal(call(risk, 'releaseMerchantHold', { holdId: 'risk-1', merchantId: merchant })))?.reason).toBe('NOT_FOUND');
    const after = await call<RunSettlementResponse>(ledger, 'runSettlement', { businessDate: dayAfter(today, 2) });
    expect(after.batches.find((b) => b.merchantId === merchant)?.amount).toBe(49_700n);
    await createRefund(first.paymentId, 60_000n);
    expect(second.paymentId).toBeDefined();
    expect((await store.trialBalance()).balanced).toBe(true);
  } finally {
    ledger.close();
    risk.close();
    other.close();
  }
}, 120_000);

test('ledger holds - ListAccountEntries pages an account\'s lines by token within dates; ListRefunds by state and order number; both scoped to the caller', async () => {
  const ledger = stack.serviceClient<Client>(ledger_service, 'LedgerService');
  const other = stack.serviceClient<Client>(ledger_service, 'LedgerService', stack.auth('it_other'));
  try {
    const order_no = `srch-${randomBytes(6).toString('hex')}`;
    const payment = await paid(20_000n, order_no);
    await createRefund(payment.paymentId, 1_000n);
    await createRefund(payment.paymentId, 2_000n);
    await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant })).refundedAmount === 3_000n ? true : undefined), 20_000, 'refunded');
    await caughtUp();

    const request = { merchantId: merchant, accountCode: 'merchant_pending', currency: 'CNY', fromDate: '', toDate: '', pageSize: 2, pageToken: '' };
    const lines: AccountEntry[] = [];
    for (let token = '', pages = 0; pages === 0 || token !== ''; pages += 1) {
      const page = await call<ListAccountEntriesResponse>(ledger, 'listAccountEntries', { ...request, pageToken: token });
      expect(page.entries.length).toBeLessThanOrEqual(2);
      lines.push(...page.entries);
      token = page.nextPageToken;
    }
    const expected = await store.pool.query<{ entry_id: bigint; debit_minor: bigint; credit_minor: bigint }>(
      `SELECT l.entry_id, l.debit_minor, l.credit_minor FROM journal_lines l JOIN accounts a USING (account_id)
        WHERE a.code = 'merchant_pending' AND a.owner = $1 AND a.currency = 'CNY' ORDER BY l.entry_id DESC, l.line_no DESC`, [merchant]);
    expect(lines.map((l) => [l.entryId, l.debit, l.credit])).toEqual(expected.rows.map((r) => [r.entry_id, r.debit_minor, r.credit_minor]));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.find((l) => l.paymentId === payment.paymentId)).toMatchObject({ txnCode: 'PAYMENT', credit: 19_880n });
    const today = lines[0]!.businessDate;
    const none = await call<ListAccountEntriesResponse>(ledger, 'listAccountEntries', { ...request, fromDate: dayAfter(today, 1), pageSize: 0 });
    expect(none.entries).toEqual([]);
    const dated = await call<ListAccountEntriesResponse>(ledger, 'listAccountEntries', { ...request, fromDate: today, toDate: today, pageSize: 500 });
    expect(dated.entries.every((e) => e.businessDate === today)).toBe(true);
    expect(dated.entries.length).toBeGreaterThan(0);

    const invalid = await refusal(call(ledger, 'listAccountEntries', { ...request, accountCode: 'fee_income', fromDate: '2026-13-01', pageToken: 'x' }));
    expect(invalid?.violations.map((v) => v.field).sort()).toEqual(['account_code', 'from_date', 'page_token']);
    expect((await refusal(call(ledger, 'listAccountEntries', { ...request, fromDate: today, toDate: dayAfter(today, -1) })))?.violations.map((v) => v.field)).toEqual(['to_date']);
    expect((await refusal(call(other, 'listAccountEntries', request)))?.reason).toBe('FORBIDDEN');

    const refunds = { merchantId: merchant, pageSize: 1, pageToken: '', state: '', merchantOrderNo: order_no };
    const of_order: string[] = [];
    for (let token = '', pages = 0; pages === 0 || token !== ''; pages += 1) {
      const page = await call<ListRefundsResponse>(ledger, 'listRefunds', { ...refunds, pageToken: token });
      of_order.push(...page.refunds.map((r) => `${r.paymentId}:${r.amount}:${r.state}`));
      token = page.nextPageToken;
    }
    expect(of_order.sort()).toEqual([`${payment.paymentId}:1000:SUCCEEDED`, `${payment.paymentId}:2000:SUCCEEDED`]);
    const failed = await call<ListRefundsResponse>(ledger, 'listRefunds', { ...refunds, state: 'FAILED' });
    expect(failed.refunds).toEqual([]);
    expect((await refusal(call(ledger, 'listRefunds', { ...refunds, state: 'DONE' })))?.violations.map((v) => v.field)).toEqual(['state']);
    expect((await refusal(call(other, 'listRefunds', refunds)))?.reason).toBe('FORBIDDEN');
    const payments = { merchantId: merchant, status: 0, channelId: '', product: 0, pageSize: 0, pageToken: '', merchantOrderNo: order_no };
    expect((await call<ListPaymentsResponse>(ledger, 'listPayments', payments)).payments.map((p) => [p.paymentId, p.refundedAmount])).toEqual([[payment.paymentId, 3_000n]]);
    expect((await refusal(call(ledger, 'listPayments', { ...payments, merchantOrderNo: 'x'.repeat(65) })))?.violations.map((v) => v.field)).toEqual(['merchant_order_no']);
  } finally {
    ledger.close();
    other.close();
  }
}, 120_000);
