// Integration: the books through paycore and the sandbox PSP, on a PostgreSQL database of
// this run's own. Pay → pending; cut-off → available; refund → the merchant is debited; a
// duplicate payment's automatic refund nets to zero; the day-end trial balance is zero; and
// the projection survives SIGKILL with nothing posted twice and nothing skipped.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { ledgerConsumerName } from '../core/ledger/projection';
import { LedgerStore } from '../core/ledger/store';
import type { AccountCode } from '../core/ledger/rules';
import { PaymentStatus, Product, type CreateRefundRequest, type CreateRefundResponse, type Payment } from '../proto/gen/paycore/v1/payment';
import { defaultRouting, eventually, startStack, type Stack } from './harness';
import { connect } from '@nats-io/transport-node';
import { ledger_service } from '../core/gateway/ledger';
import { decodeServiceError } from '../core/errors';
import type { GetBalancesResponse, GetTrialBalanceResponse, ListPaymentsResponse, ListRefundsResponse } from '../proto/gen/paycore/v1/ledger';
import { jetstreamManager } from '@nats-io/jetstream';

const merchant = 'm_it';
const fee_rate_bp = 60; // the merchant's fee: 0.6 %; the channel (wx1) costs 0.38 %

let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false }); // paycore migrates it at boot
  const routing = defaultRouting() as { merchants: { merchant_id: string; fee_rates: Record<string, unknown> }[]; apps: unknown[] };
  for (const m of routing.merchants) if (m.merchant_id === merchant || m.merchant_id === 'm_rec') m.fee_rates = { WECHAT_NATIVE: { rate_bp: fee_rate_bp, fixed_minor: '0', min_minor: '0' } };
  // An app of another merchant only: the books must not show it m_it's.
  routing.apps.push({ app_id: 'it_other', merchants: ['m_sa'], roles: ['payments:read', 'ledger:read', 'ledger:write'] });
  // The test drives the cut-offs itself.
  stack = await startStack({ routing, env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_REFUND_BACKOFF_MS: '300,600,1000', PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' } });
  store = new LedgerStore(db.url);
});

afterAll(async () => {
  await stack?.stop();
  await store?.close();
  await db?.drop();
});

async function balance(code: AccountCode, owner: string): Promise<bigint> {
  const rows = await store.balances(owner);
  return rows.find((r) => r.code === code && r.currency === 'CNY')?.balance_minor ?? 0n;
}

async function paidPayment(amount: bigint): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `led-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'books' });
  await stack.pay(`${payment.paymentId}a1`);
  return eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
}

/** Waits until the books hold every message of the event stream. */
async function caughtUp(): Promise<void> {
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  try {
    const jsm = await jetstreamManager(nc);
    const last = (await jsm.streams.info(`${stack.prefix.toUpperCase()}_PAY_EVENTS`)).state.last_seq;
    await eventually(async () => ((await store.progress(ledgerConsumerName(stack.prefix))) >= last ? true : undefined), 20_000, `the books at stream sequence ${last}`);
  } finally {
    await nc.close();
  }
}

function createRefund(request: Partial<CreateRefundRequest>): Promise<CreateRefundResponse> {
  const full: CreateRefundRequest = { merchantId: merchant, merchantRefundNo: `rf-${randomBytes(6).toString('hex')}`, paymentId: '', merchantOrderNo: '', amount: 0n, reason: '', notifyUrl: '', ...request };
  return new Promise((resolve, reject) =>
    stack.client.raw.createRefund(full, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (error, value) =>
      error ? reject(error) : resolve(value!),
    ),
  );
}

test('ledger - pay → pending (net of the fee, fee income and channel cost posted); cut-off → available; refund → debits the merchant; the day closes with a zero trial balance', async () => {
  const payment = await paidPayment(100_000n);
  expect(payment.fee).toBe(600n); // the merchant's fee, what the books charge
  await caughtUp();
  const entries = await store.entriesOf(payment.paymentId);
  expect(entries.map((e) => e.txn_code)).toEqual(['PAYMENT', 'CHANNEL_FEE']);
  expect(await balance('merchant_pending', merchant)).toBe(99_400n);
  expect(await balance('fee_income', 'platform')).toBe(600n);
  expect(await balance('channel_fee_expense', 'wx1')).toBe(380n);
  expect(await balance('channel_receivable', 'wx1')).toBe(99_620n);

  // T+1: the cut-off of the payment's own day moves nothing; the next day's moves it all.
  const day = entries[0]!.business_date;
  expect(await store.settle(day)).toEqual([]);
  const next_day = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const [batch] = await store.settle(next_day);
  expect(batch).toMatchObject({ merchant_id: merchant, amount_minor: 99_400n });
  expect(await store.settle(next_day)).toEqual([]); // settled once
  expect(await balance('merchant_pending', merchant)).toBe(0n);
  expect(await balance('merchant_available', merchant)).toBe(99_400n);

  // A refund debits the merchant at once (in transit until the channel confirms it).
  const refund = await createRefund({ paymentId: payment.paymentId, amount: 30_000n });
  await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED ? p : undefined;
  }, 15_000, 'refund settled');
  await caughtUp();
  const refunded = await store.entriesOf(payment.paymentId);
  expect(refunded.map((e) => e.txn_code)).toEqual(['PAYMENT', 'CHANNEL_FEE', 'REFUND', 'REFUND_SETTLED', 'CHANNEL_FEE_RETURN']);
  expect(refund.refund?.refundId).toBeTruthy();
  expect(await balance('merchant_available', merchant)).toBe(69_400n);
  expect(await balance('refunds_in_transit', 'wx1')).toBe(0n);
  // The channel returns its fee on the refunded share: ⌊380 × 30 000 / 100 000⌋ = 114.
  expect(refunded.at(-1)!.lines).toEqual([{ code: 'channel_receivable', owner: 'wx1', debit_minor: 114n, credit_minor: 0n }, { code: 'channel_fee_expense', owner: 'wx1', debit_minor: 0n, credit_minor: 114n }]);
  expect(await balance('channel_fee_expense', 'wx1')).toBe(266n);
  expect(await balance('channel_receivable', 'wx1')).toBe(69_734n);

  // An operator's hold and its release.
  await store.placeHold('h1', merchant, 'CNY', 1_000n, 'risk review');
  expect(await balance('merchant_frozen', merchant)).toBe(1_000n);
  await expect(store.placeHold('h2', merchant, 'CNY', 10_000_000n, 'too much')).rejects.toThrow(/cannot cover/);
  await store.releaseHold('h1', merchant);
  expect(await balance('merchant_frozen', merchant)).toBe(0n);

  const closed = await store.closeDay(next_day);
  expect(closed.balanced).toBe(true);
  expect(closed.debit_total_minor).toBeGreaterThan(0n);
  await expect(store.closeDay(next_day)).rejects.toThrow(/closed already/);
  const snapshot = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM account_day_balances WHERE business_date = $1', [next_day]);
  expect(snapshot.rows[0]!.n).toBeGreaterThan(0n);
});

test('ledger - /metrics: PostgreSQL reachable, the projection\'s lag and entries', async () => {
  const text = await eventually(async () => {
    const body = await (await fetch(`http://127.0.0.1:${stack.env.PAYCORE_HTTP_PORT}/metrics`)).text();
    return /paycore_dependency_up\{dependency="postgres"\} 1/.test(body) && /paycore_ledger_projection_lag_messages 0/.test(body) ? body : undefined;
  }, 15_000, 'the books on /metrics');
  expect(Number(/paycore_ledger_entries_total (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
});

test('ledger - a duplicate payment (paid after the close) and its automatic refund net to zero', async () => {
  const suspense_before = await balance('suspense', 'platform');
  const receivable_before = await balance('channel_receivable', 'wx1');
  const expense_before = await balance('channel_fee_expense', 'wx1');
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `led-${randomBytes(6).toString('hex')}`, amount: 700n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'dup' });
  await stack.fault({ scope: { out_trade_no: `${payment.paymentId}a1` }, success_after_close: true });
  await stack.client.closePayment({ paymentId: payment.paymentId, merchantId: merchant });
  await stack.pay(`${payment.paymentId}a1`);
  await eventually(async () => {
    await caughtUp();
    const codes = (await store.entriesOf(payment.paymentId)).map((e) => e.txn_code);
    return codes.includes('REFUND_SETTLED') ? codes : undefined;
  }, 20_000, 'the duplicate refunded in the books');
  const entries = await store.entriesOf(payment.paymentId);
  expect(entries.map((e) => e.txn_code)).toEqual(['DUPLICATE', 'DUPLICATE_CHANNEL_FEE', 'DUPLICATE_REFUND', 'REFUND_SETTLED', 'DUPLICATE_CHANNEL_FEE_RETURN']);
  // The channel's cost of the duplicate (wx1: 0.38 %, at least 1) is paycore's, and comes back
  // with the refund.
  const charged = entries.find((e) => e.txn_code === 'DUPLICATE_CHANNEL_FEE')!.lines;
  const fee = charged[0]!.debit_minor;
  expect(fee).toBeGreaterThan(0n);
  expect(charged).toEqual([{ code: 'channel_fee_expense', owner: 'wx1', debit_minor: fee, credit_minor: 0n }, { code: 'channel_receivable', owner: 'wx1', debit_minor: 0n, credit_minor: fee }]);
  expect(entries.find((e) => e.txn_code === 'DUPLICATE_CHANNEL_FEE_RETURN')!.lines).toEqual([{ code: 'channel_receivable', owner: 'wx1', debit_minor: fee, credit_minor: 0n }, { code: 'channel_fee_expense', owner: 'wx1', debit_minor: 0n, credit_minor: fee }]);
  expect(await balance('suspense', 'platform')).toBe(suspense_before);
  expect(await balance('channel_receivable', 'wx1')).toBe(receivable_before);
  expect(await balance('channel_fee_expense', 'wx1')).toBe(expense_before);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('ledger - SIGKILL while the projection posts: after a restart every message is in the books once, none skipped', async () => {
  const amounts: bigint[] = [];
  const payments: Payment[] = [];
  for (let i = 0; i < 12; i += 1) {
    const amount = BigInt(1_000 + i);
    amounts.push(amount);
    const p = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `kill-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'kill' });
    payments.push(p);
    void stack.pay(`${p.paymentId}a1`);
  }
  await stack.paycore.kill('SIGKILL');
  await stack.restart();
  for (const p of payments) {
    await eventually(async () => {
      const got = await stack.client.getPayment({ paymentId: p.paymentId, merchantId: merchant });
      return got.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? got : undefined;
    }, 20_000, 'paid after the restart');
  }
  await caughtUp();
  for (const [index, p] of payments.entries()) {
    const entries = await store.entriesOf(p.paymentId);
    expect([p.paymentId, entries.map((e) => e.txn_code)]).toEqual([p.paymentId, ['PAYMENT', 'CHANNEL_FEE']]);
    const fee = (amounts[index]! * BigInt(fee_rate_bp) + 5_000n) / 10_000n;
    expect(entries[0]!.lines.find((l) => l.code === 'merchant_pending')?.credit_minor).toBe(amounts[index]! - fee);
  }
  // Every stream message was posted exactly once: entries per stream sequence are unique per
  // (payment, version, code) by key, and the pending balance is exactly what the payments say.
  const rows = await store.pool.query<{ n: bigint; keys: bigint }>('SELECT count(*) AS n, count(DISTINCT entry_key) AS keys FROM journal_entries');
  expect(rows.rows[0]!.n).toBe(rows.rows[0]!.keys);
  let expected_pending = 0n;
  for (const amount of amounts) expected_pending += amount - (amount * BigInt(fee_rate_bp) + 5_000n) / 10_000n;
  expect(await balance('merchant_pending', merchant)).toBe(expected_pending);
  expect((await store.trialBalance()).balanced).toBe(true);
});

type LedgerClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function ledgerCall<T>(client: LedgerClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

function exportDay(client: LedgerClient, request: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stream = client.exportMerchantDay!(request) as grpc.ClientReadableStream<{ chunk: Uint8Array }>;
    stream.on('data', (message) => chunks.push(Buffer.from(message.chunk)));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

const reasonOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: grpc.ServiceError) => decodeServiceError(e).reason);

test('ledger - LedgerService: ListPayments filters and pages from the books, balances and the trial balance, each scoped to the caller', async () => {
  await caughtUp();
  const client = stack.serviceClient<LedgerClient>(ledger_service, 'LedgerService');
  const other = stack.serviceClient<LedgerClient>(ledger_service, 'LedgerService', stack.auth('it_other'));
  try {
    const request = { merchantId: merchant, status: 0, channelId: '', product: 0, pageSize: 4, pageToken: '', merchantOrderNo: '' };
    const seen: string[] = [];
    let created: number[] = [];
    for (let token = '', pages = 0; pages === 0 || token !== ''; pages += 1) {
      const page = await ledgerCall<ListPaymentsResponse>(client, 'listPayments', { ...request, pageToken: token });
      expect(page.payments.length).toBeLessThanOrEqual(4);
      seen.push(...page.payments.map((p) => p.paymentId));
      created = [...created, ...page.payments.map((p) => p.createdAt!.getTime())];
      token = page.nextPageToken;
    }
    const total = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM payments WHERE merchant_id = $1', [merchant]);
    expect(seen.length).toBe(Number(total.rows[0]!.n));
    expect(new Set(seen).size).toBe(seen.length); // no row twice across pages
    expect(created).toEqual([...created].sort((a, b) => b - a)); // newest first
    const closed = await ledgerCall<ListPaymentsResponse>(client, 'listPayments', { ...request, status: PaymentStatus.PAYMENT_STATUS_CLOSED, pageSize: 0 });
    expect(closed.payments.length).toBe(1);
    expect(closed.payments[0]!.status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
    const none = await ledgerCall<ListPaymentsResponse>(client, 'listPayments', { ...request, product: Product.PRODUCT_ALIPAY_QR });
    expect(none.payments).toEqual([]);
    const refunds = await ledgerCall<ListRefundsResponse>(client, 'listRefunds', { merchantId: merchant, pageSize: 0, pageToken: '', state: '', merchantOrderNo: '' });
    expect(refunds.refunds.map((r) => r.amount)).toContain(30_000n);
    expect(await reasonOf(ledgerCall(client, 'listPayments', { ...request, pageToken: 'not-a-token' }))).toBe('INVALID_FIELD');

    const balances = await ledgerCall<GetBalancesResponse>(client, 'getBalances', { merchantId: merchant });
    expect(balances.accounts.find((a) => a.code === 'merchant_pending')?.balance).toBe(await balance('merchant_pending', merchant));
    const trial = await ledgerCall<GetTrialBalanceResponse>(client, 'getTrialBalance', { throughDate: '' });
    expect(trial.balanced).toBe(true);
    expect(trial.debitTotal).toBe(trial.creditTotal);

    // Another merchant's app sees none of it, and no platform-wide call.
    expect(await reasonOf(ledgerCall(other, 'listPayments', request))).toBe('FORBIDDEN');
    expect(await reasonOf(ledgerCall(other, 'getBalances', { merchantId: merchant }))).toBe('FORBIDDEN');
    expect(await reasonOf(ledgerCall(other, 'getTrialBalance', { throughDate: '' }))).toBe('FORBIDDEN');
    expect(await reasonOf(ledgerCall(other, 'placeHold', { holdId: 'x1', merchantId: merchant, currency: 'CNY', amount: 1n, reason: 'no' }))).toBe('FORBIDDEN');
    expect(await ledgerCall<ListPaymentsResponse>(other, 'listPayments', { ...request, merchantId: 'm_sa' })).toMatchObject({ payments: [] });

    // The merchant's day as CSV: its own lines only, each entry's amounts as in the books.
    const day = (await store.entriesOf(seen[seen.length - 1]!))[0]?.business_date ?? new Date().toISOString().slice(0, 10);
    const csv = await exportDay(client, { merchantId: merchant, businessDate: day });
    const [header, ...lines] = csv.trimEnd().split('\r\n');
    expect(header).toBe('business_date,entry_id,posted_at,txn_code,payment_id,ref_id,account,currency,debit,credit');
    const expected = await store.pool.query<{ n: bigint }>(
      `SELECT count(*) AS n FROM journal_lines l JOIN journal_entries e USING (entry_id) JOIN accounts a USING (account_id)
        WHERE a.owner = $1 AND a.code LIKE 'merchant_%' AND e.business_date = $2`, [merchant, day]);
    expect(lines.length).toBe(Number(expected.rows[0]!.n));
    expect(lines.every((line) => line.startsWith(`${day},`) && /,merchant_(pending|available|frozen),CNY,\d+,\d+$/.test(line))).toBe(true);
    await expect(exportDay(other, { merchantId: merchant, businessDate: day })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  } finally {
    client.close();
    other.close();
  }
});

test('ledger - refund funding: beyond what the merchant holds a refund is refused before it is sent; the overdraft policy allows it within its limit', async () => {
  const funded = 'm_rec';
  const payment = await stack.client.createPayment({ merchantId: funded, merchantOrderNo: `led-${randomBytes(6).toString('hex')}`, amount: 100_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'funding' });
  const expense_before = await balance('channel_fee_expense', 'wx1');
  await stack.pay(`${payment.paymentId}a1`);
  await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: funded })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 10_000, 'paid');
  await caughtUp();
  expect(await balance('channel_fee_expense', 'wx1')).toBe(expense_before + 380n);
  // The merchant holds 99 400 (the fee of 600 is kept): a full refund is 600 short.
  const refused = createRefund({ merchantId: funded, paymentId: payment.paymentId, amount: 100_000n });
  await expect(refused).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
  expect(decodeServiceError((await refused.catch((e: unknown) => e)) as grpc.ServiceError).reason).toBe('INSUFFICIENT_BALANCE');
  expect(String(await refused.catch((e: Error) => e.message))).toMatch(/balance 99400 CNY cannot fund a refund of 100000 \(policy refuse\)/);
  expect((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: funded })).refundedAmount).toBe(0n);
  expect((await stack.orders(`${payment.paymentId}a1`))[0]).not.toHaveProperty('refunded_total', 100_000);
  // What it holds it may refund.
  await createRefund({ merchantId: funded, paymentId: payment.paymentId, amount: 95_000n });
  await expect(createRefund({ merchantId: funded, paymentId: payment.paymentId, amount: 5_000n })).rejects.toMatchObject({
    code: grpc.status.FAILED_PRECONDITION,
  });

  // Overdraft within 1 000: the last 5 000 is allowed, leaving the merchant 600 below zero.
  const client = stack.serviceClient<LedgerClient>(ledger_service, 'LedgerService');
  const other = stack.serviceClient<LedgerClient>(ledger_service, 'LedgerService', stack.auth('it_other'));
  try {
    const settings = { settlementDays: 1, refundReturnsFee: false, refundOverdraft: true, overdraftLimit: 1_000n };
    expect(await reasonOf(ledgerCall(other, 'setMerchantBookSettings', { merchantId: funded, settings }))).toBe('FORBIDDEN');
    expect(await reasonOf(ledgerCall(client, 'setMerchantBookSettings', { merchantId: funded, settings: { ...settings, settlementDays: 31 } }))).toBe('INVALID_FIELD');
    expect(await ledgerCall(client, 'setMerchantBookSettings', { merchantId: funded, settings })).toEqual({ settings });
    expect(await ledgerCall(client, 'getMerchantBookSettings', { merchantId: funded })).toEqual({ settings });
  } finally {
    client.close();
    other.close();
  }
  await createRefund({ merchantId: funded, paymentId: payment.paymentId, amount: 5_000n });
  await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: funded })).status === PaymentStatus.PAYMENT_STATUS_REFUNDED ? true : undefined), 15_000, 'refunded');
  await caughtUp();
  expect((await balance('merchant_pending', funded)) + (await balance('merchant_available', funded))).toBe(-600n);
  // Refunded in full, the payment costs no channel fee: the channel returned it all (361 + 19).
  expect(await balance('channel_fee_expense', 'wx1')).toBe(expense_before);
  const reservations = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM refund_reservations WHERE merchant_id = $1', [funded]);
  expect(reservations.rows[0]!.n).toBe(0n); // posted refunds release their reservation
});
