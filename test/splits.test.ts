// Integration: SplitService through paycore (node dist/workers/main.js), its books in a
// PostgreSQL database of this run's own, payments paid and refunded through the sandbox PSP:
// a split moves shares from the merchant to its receivers only while they fit, a refund takes
// them back first (分账回退), the calls are scoped by merchant and role and name each bad field,
// and splits and refunds racing on one payment never exceed what was paid.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { ledgerConsumerName } from '../core/ledger/projection';
import { LedgerStore } from '../core/ledger/store';
import { splitId } from '../core/ids';
import { split_service } from '../core/gateway/splits';
import { payout_service } from '../core/gateway/payouts';
import { PayoutStatus, type CreatePayoutResponse, type GetMemberWalletResponse } from '../proto/gen/paycore/v1/payout';
import { PaymentStatus, Product, type CreateRefundRequest, type CreateRefundResponse, type Payment } from '../proto/gen/paycore/v1/payment';
import { SplitReceiverType, SplitStatus, type CreateSplitResponse, type GetSplitResponse, type ListSplitsResponse, type Split } from '../proto/gen/paycore/v1/split';
import { defaultRouting, eventually, refusal, startStack, type Stack } from './harness';

type SplitClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const merchant = 'm_it';
let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;
let client: SplitClient;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false }); // paycore migrates it at boot
  const routing = defaultRouting() as { merchants: { merchant_id: string; fee_rates: Record<string, unknown> }[]; apps: unknown[] };
  // The merchant's fee (0.6 %) is not the merchant's to split.
  for (const m of routing.merchants) if (m.merchant_id === merchant) m.fee_rates = { WECHAT_NATIVE: { rate_bp: 60, fixed_minor: '0', min_minor: '0' } };
  routing.apps.push({ app_id: 'sp_other', merchants: ['m_sa'], roles: ['splits:read', 'splits:write', 'payments:write'] });
  routing.apps.push({ app_id: 'sp_reader', merchants: [merchant], roles: ['splits:read'] });
  stack = await startStack({ routing, env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_REFUND_BACKOFF_MS: '300,600,1000', PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' } });
  store = new LedgerStore(db.url);
  client = stack.serviceClient<SplitClient>(split_service, 'SplitService');
});

afterAll(async () => {
  client?.close();
  await stack?.stop();
  await store?.close();
  await db?.drop();
});

function call<T>(on: SplitClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => on[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

async function paidPayment(amount: bigint, merchant_id = merchant): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant_id, merchantOrderNo: `spl-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'split' });
  await stack.pay(`${payment.paymentId}a1`);
  return eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant_id });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
}

/** Waits until the books hold every message of the payment event stream. */
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
    stack.client.raw.createRefund(full, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (error, value) => (error ? reject(error) : resolve(value!))),
  );
}

const split = (payment_id: string, receivers: [string, bigint][], overrides: Record<string, unknown> = {}) => ({
  merchantId: merchant, merchantSplitNo: `sp-${randomBytes(5).toString('hex')}`, paymentId: payment_id, description: '',
  receivers: receivers.map(([receiverId, amount]) => ({ receiverId, amount, returnedAmount: 0n })), ...overrides,
});

/** A split once the books decided it (CreateSplit may answer PENDING while they catch up). */
async function decided(created: Split): Promise<Split> {
  return eventually(async () => {
    const got = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: created.splitId })).split!;
    return got.status === SplitStatus.SPLIT_STATUS_PENDING ? undefined : got;
  }, 20_000, `split ${created.splitId} decided`);
}

async function receiverBalance(receiver_id: string): Promise<bigint> {
  return (await store.balances(`${merchant}/${receiver_id}`)).find((row) => row.code === 'split_receiver')?.balance_minor ?? 0n;
}

async function merchantFunds(): Promise<bigint> {
  let sum = 0n;
  for (const row of await store.balances(merchant)) if (row.code === 'merchant_available' || row.code === 'merchant_pending') sum += row.balance_minor;
  return sum;
}

test('splits - CreateSplit posts the shares from the merchant to its receivers; GetSplit and ListSplits show it; the same key again answers the same split, other fields are refused', async () => {
  const payment = await paidPayment(100_000n);
  await caughtUp();
  const funds = await merchantFunds();
  const request = split(payment.paymentId, [['alice', 30_000n], ['bob', 20_000n]], { description: 'shop and courier' });
  const created = (await call<CreateSplitResponse>(client, 'createSplit', request)).split!;
  expect(created.splitId).toBe(splitId(stack.id_key, merchant, request.merchantSplitNo));
  const done = await decided(created);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, amount: 50_000n, currency: 'CNY', paymentId: payment.paymentId, description: 'shop and courier' });
  expect(done.receivers).toEqual([
    { receiverId: 'alice', amount: 30_000n, returnedAmount: 0n, returnRequiresManual: false, type: SplitReceiverType.SPLIT_RECEIVER_TYPE_UNSPECIFIED, name: '' },
    { receiverId: 'bob', amount: 20_000n, returnedAmount: 0n, returnRequiresManual: false, type: SplitReceiverType.SPLIT_RECEIVER_TYPE_UNSPECIFIED, name: '' },
  ]);
  expect(await receiverBalance('alice')).toBe(30_000n);
  expect(await receiverBalance('bob')).toBe(20_000n);
  expect(await merchantFunds()).toBe(funds - 50_000n);
  expect((await store.entriesOf(payment.paymentId)).filter((e) => e.txn_code === 'SPLIT')).toHaveLength(2);

  const again = (await call<CreateSplitResponse>(client, 'createSplit', request)).split!;
  expect(again).toMatchObject({ splitId: created.splitId, status: SplitStatus.SPLIT_STATUS_SUCCEEDED });
  expect(await receiverBalance('alice')).toBe(30_000n);
  expect(await refusal(call(client, 'createSplit', { ...request, receivers: [{ receiverId: 'alice', amount: 31_000n, returnedAmount: 0n }] }))).toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });

  const listed = await call<ListSplitsResponse>(client, 'listSplits', { merchantId: merchant, paymentId: payment.paymentId, pageSize: 0, pageToken: '' });
  expect(listed.splits.map((s) => [s.splitId, s.status, s.amount])).toEqual([[created.splitId, SplitStatus.SPLIT_STATUS_SUCCEEDED, 50_000n]]);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('splits - more than paid − fee − refunds − earlier splits: FAILED EXCEEDS_SPLITTABLE, nothing moved; exactly what is left fits', async () => {
  const payment = await paidPayment(10_000n); // fee 60: 9_940 can be split
  await caughtUp();
  await call(client, 'createSplit', split(payment.paymentId, [['carol', 4_000n]])).then((r) => decided((r as CreateSplitResponse).split!));
  const over = await decided((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['dave', 5_941n]]))).split!);
  expect(over).toMatchObject({ status: SplitStatus.SPLIT_STATUS_FAILED, failureCode: 'EXCEEDS_SPLITTABLE' });
  expect(await receiverBalance('dave')).toBe(0n);
  const exact = await decided((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['dave', 5_940n]]))).split!);
  expect(exact.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(await receiverBalance('dave')).toBe(5_940n);
});

test("splits - a refund after a split takes the receivers' shares back first (分账回退), up to the refund, and the books balance", async () => {
  const payment = await paidPayment(20_000n);
  await caughtUp();
  const before_erin = await receiverBalance('erin');
  const before_frank = await receiverBalance('frank');
  const done = await decided((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['erin', 6_000n], ['frank', 4_000n]]))).split!);
  expect(done.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  const funds = await merchantFunds();
  await createRefund({ paymentId: payment.paymentId, amount: 7_000n });
  await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED ? p : undefined;
  }, 15_000, 'refund settled');
  await caughtUp();
  // In the order they were split: erin's 6_000 whole, then 1_000 of frank's; the merchant pays nothing.
  const after = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: done.splitId })).split!;
  expect(after.receivers.map((r) => [r.receiverId, r.returnedAmount])).toEqual([['erin', 6_000n], ['frank', 1_000n]]);
  expect(await receiverBalance('erin')).toBe(before_erin);
  expect(await receiverBalance('frank')).toBe(before_frank + 3_000n);
  expect(await merchantFunds()).toBe(funds);
  const codes = (await store.entriesOf(payment.paymentId)).map((e) => e.txn_code);
  expect(codes.filter((c) => c === 'SPLIT_RETURN')).toHaveLength(2);
  // What is left to split now: 20_000 − 120 fee − 7_000 refunded − 3_000 still split.
  const left = await decided((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['frank', 9_881n]]))).split!);
  expect(left).toMatchObject({ status: SplitStatus.SPLIT_STATUS_FAILED, failureCode: 'EXCEEDS_SPLITTABLE' });
  expect((await decided((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['frank', 9_880n]]))).split!)).status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test("splits - scoped by merchant: another merchant's app gets NOT_FOUND for the split and the payment, FORBIDDEN for the merchant; a reader cannot create; bad fields are named", async () => {
  const payment = await paidPayment(5_000n);
  await caughtUp();
  const done = await decided((await call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [['gina', 100n]]))).split!);
  const other = stack.serviceClient<SplitClient>(split_service, 'SplitService', stack.auth('sp_other'));
  const reader = stack.serviceClient<SplitClient>(split_service, 'SplitService', stack.auth('sp_reader'));
  try {
    expect(await refusal(call(other, 'getSplit', { merchantId: 'm_sa', splitId: done.splitId }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect(await refusal(call(other, 'getSplit', { merchantId: merchant, splitId: done.splitId }))).toMatchObject({ reason: 'FORBIDDEN' });
    expect(await refusal(call(other, 'listSplits', { merchantId: merchant, paymentId: '', pageSize: 0, pageToken: '' }))).toMatchObject({ reason: 'FORBIDDEN' });
    // m_sa's app names m_it's payment under its own merchant: no such payment of m_sa.
    const foreign = await refusal(call(other, 'createSplit', split(payment.paymentId, [['gina', 100n]], { merchantId: 'm_sa' })));
    expect(foreign).toMatchObject({ reason: 'NOT_FOUND', fields: ['payment_id'] });
    expect(await refusal(call(reader, 'createSplit', split(payment.paymentId, [['gina', 100n]])))).toMatchObject({ reason: 'FORBIDDEN' });
    expect((await call<GetSplitResponse>(reader, 'getSplit', { merchantId: merchant, splitId: done.splitId })).split?.splitId).toBe(done.splitId);
  } finally {
    other.close();
    reader.close();
  }
  const bad = await refusal(call(client, 'createSplit', split('p123', [['ok', 0n], ['no spaces', 1n], ['ok', 2n]], { merchantSplitNo: 'no spaces', description: 'x'.repeat(81) })));
  expect(bad).toMatchObject({ reason: 'INVALID_FIELD' });
  expect(bad.fields.sort()).toEqual(['description', 'merchant_split_no', 'payment_id', 'receivers[0].amount', 'receivers[1].receiver_id', 'receivers[2].receiver_id']);
  expect((await refusal(call(client, 'createSplit', split(payment.paymentId, [])))).fields).toEqual(['receivers']);
  const output_only = split(payment.paymentId, [['ok', 1n]]);
  const set_by_caller = { ...output_only, receivers: [{ ...output_only.receivers[0]!, returnedAmount: 1n, returnRequiresManual: true }] };
  expect((await refusal(call(client, 'createSplit', set_by_caller))).fields.sort()).toEqual(['receivers[0].return_requires_manual', 'receivers[0].returned_amount']);
  expect((await refusal(call(client, 'getSplit', { merchantId: merchant, splitId: 'o123' }))).fields).toEqual(['split_id']);
  expect((await refusal(call(client, 'listSplits', { merchantId: merchant, paymentId: 'x', pageSize: 501, pageToken: 'zz' }))).fields.sort()).toEqual(['page_size', 'page_token', 'payment_id']);
  // A payment not paid is not split, and nothing is recorded.
  const open = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `spl-${randomBytes(6).toString('hex')}`, amount: 1_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'open' });
  expect(await refusal(call(client, 'createSplit', split(open.paymentId, [['gina', 100n]])))).toMatchObject({ reason: 'ILLEGAL_STATE', fields: ['payment_id'] });
});

/** Sequentially, one after another (each starts when the previous answered). */
async function chain<T>(count: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += 1) out.push(await one(i));
  return out;
}

/** 10 splits of 15_000 and 5 refunds of 12_000 on one paid 100_000 (fee 600) racing: all at
 * once ('burst': the splits contend for the payment's lock), or as two chains running side by
 * side ('interleaved': refunds are accepted and projected between splits, so some splits come
 * before a refund and some after). */
async function race(mode: 'burst' | 'interleaved'): Promise<void> {
  const amount = 100_000n;
  const payment = await paidPayment(amount);
  await caughtUp();
  const receivers = Array.from({ length: 10 }, (_, i) => `${mode}${i}`);
  const oneSplit = (i: number) => call<CreateSplitResponse>(client, 'createSplit', split(payment.paymentId, [[receivers[i]!, 15_000n]])).then((r) => r.split!);
  const oneRefund = () => createRefund({ paymentId: payment.paymentId, amount: 12_000n }).then(() => 12_000n, () => 0n);
  const [created, accepted] = mode === 'burst'
    ? await Promise.all([Promise.all(receivers.map((_, i) => oneSplit(i))), Promise.all(Array.from({ length: 5 }, oneRefund))])
    : await Promise.all([chain(10, oneSplit), chain(5, oneRefund)]);
  const refunded = accepted.reduce((sum, a) => sum + a, 0n);
  expect(refunded).toBe(60_000n); // 60_000 ≤ paid: the actor accepts every one
  const final = await Promise.all(created.map((s) => decided(s)));
  await eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.refundedAmount === refunded ? p : undefined;
  }, 30_000, 'every refund settled');
  await caughtUp();
  const succeeded = final.filter((s) => s.status === SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(final.filter((s) => s.status === SplitStatus.SPLIT_STATUS_FAILED).every((s) => s.failureCode === 'EXCEEDS_SPLITTABLE')).toBe(true);
  // The shares still with the receivers, by the books and by GetSplit.
  let kept = 0n;
  let returned = 0n;
  for (const s of final) {
    const got = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: s.splitId })).split!;
    const share = got.status === SplitStatus.SPLIT_STATUS_SUCCEEDED ? got.receivers[0]! : undefined;
    expect(await receiverBalance(s.receivers[0]!.receiverId)).toBe(share === undefined ? 0n : share.amount - share.returnedAmount);
    kept += share === undefined ? 0n : share.amount - share.returnedAmount;
    returned += share?.returnedAmount ?? 0n;
  }
  expect(succeeded.length).toBeGreaterThan(0);
  // Never more out than paid (nor, the refunds being below it, than paid less the fee).
  expect(kept + refunded).toBeLessThanOrEqual(amount - 600n);
  // A refund takes back at most itself, and no more than was split.
  const split_total = BigInt(succeeded.length) * 15_000n;
  expect(returned).toBeLessThanOrEqual(refunded < split_total ? refunded : split_total);
  expect(kept).toBe(split_total - returned);
  const entries = await store.entriesOf(payment.paymentId);
  expect(entries.filter((e) => e.txn_code === 'SPLIT')).toHaveLength(succeeded.length);
  expect(new Set(entries.map((e) => e.entry_key)).size).toBe(entries.length);
  expect((await store.trialBalance()).balanced).toBe(true);
}

test('splits - concurrent splits and refunds racing on one payment (all at once) never exceed the paid amount; every share and return is in the books once, and they balance', () => race('burst'), 90_000);

test('splits - splits and refunds interleaved on one payment never exceed the paid amount; the books balance', () => race('interleaved'), 90_000);

test('splits - split rules on CreatePayment: once paid, the receivers get their fixed amounts and ratios of what is left, the merchant the rest; the same key with other rules is refused; bad rules are named', async () => {
  const order = `spl-${randomBytes(6).toString('hex')}`;
  const create = (split_rules: { receiverId: string; amount: bigint; ratioBp: number; name: string }[]) => stack.client.createPayment({
    merchantId: merchant, merchantOrderNo: order, amount: 20_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'rules', splitRules: split_rules,
  });
  const rules = [{ receiverId: 'hub', amount: 1_000n, ratioBp: 0, name: '' }, { receiverId: 'rider', amount: 0n, ratioBp: 2_500, name: '' }];
  const payment = await create(rules);
  expect((await create(rules)).paymentId).toBe(payment.paymentId);
  expect(await refusal(create([{ receiverId: 'hub', amount: 1_001n, ratioBp: 0, name: '' }]))).toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
  const hub = await receiverBalance('hub');
  const rider = await receiverBalance('rider');
  await stack.pay(`${payment.paymentId}a1`);
  const listed = await eventually(async () => {
    const page = await call<ListSplitsResponse>(client, 'listSplits', { merchantId: merchant, paymentId: payment.paymentId, pageSize: 0, pageToken: '' });
    return page.splits.find((s) => s.status === SplitStatus.SPLIT_STATUS_SUCCEEDED);
  }, 20_000, 'the rules applied');
  expect(listed.merchantSplitNo).toBe(`rules:${payment.paymentId}`);
  // Fee 120: the net 19_880 less the fixed 1_000 leaves 18_880, of which 25 % is the rider's.
  const got = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: listed.splitId })).split!;
  expect(got.receivers.map((r) => [r.receiverId, r.amount])).toEqual([['hub', 1_000n], ['rider', 4_720n]]);
  expect(await receiverBalance('hub')).toBe(hub + 1_000n);
  expect(await receiverBalance('rider')).toBe(rider + 4_720n);

  const bad = await refusal(stack.client.createPayment({
    merchantId: merchant, merchantOrderNo: `spl-${randomBytes(6).toString('hex')}`, amount: 1_000n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'bad',
    splitRules: [
      { receiverId: 'a', amount: 600n, ratioBp: 0, name: '' }, { receiverId: 'a', amount: 500n, ratioBp: 0, name: '' }, { receiverId: 'b', amount: 1n, ratioBp: 10, name: '' },
      { receiverId: 'c', amount: 0n, ratioBp: 10_001, name: '' }, { receiverId: 'no spaces', amount: 0n, ratioBp: 0, name: '' },
    ],
  }));
  expect(bad).toMatchObject({ reason: 'INVALID_FIELD' });
  expect(bad.fields.sort()).toEqual([
    'split_rules', 'split_rules', 'split_rules[1].receiver_id', 'split_rules[2].amount', 'split_rules[3].ratio_bp', 'split_rules[4].amount', 'split_rules[4].receiver_id',
  ]);
});

test("splits - a share to a member wallet (receiver type MEMBER): credited to the member's wallet in the books, withdrawable; a refund takes back what the wallet still holds, the merchant pays the rest; the books balance", async () => {
  const payouts = stack.serviceClient<SplitClient>(payout_service, 'PayoutService');
  const member = `mem${randomBytes(3).toString('hex')}`;
  const wallet = async () => (await call<GetMemberWalletResponse>(payouts, 'getMemberWallet', { merchantId: merchant, memberId: member, currency: 'CNY' })).wallet!;
  try {
    const payment = await paidPayment(20_000n);
    await caughtUp();
    const request = split(payment.paymentId, [[member, 8_000n], ['gina', 2_000n]]);
    request.receivers[0] = { ...request.receivers[0]!, type: SplitReceiverType.SPLIT_RECEIVER_TYPE_MEMBER } as (typeof request.receivers)[number];
    const done = await decided((await call<CreateSplitResponse>(client, 'createSplit', request)).split!);
    expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, amount: 10_000n });
    expect(done.receivers.map((r) => [r.receiverId, r.type])).toEqual([[member, SplitReceiverType.SPLIT_RECEIVER_TYPE_MEMBER], ['gina', SplitReceiverType.SPLIT_RECEIVER_TYPE_UNSPECIFIED]]);
    expect(await wallet()).toMatchObject({ balance: 8_000n });
    expect(await receiverBalance(member)).toBe(0n);
    // The same key with the member as a plain receiver is another split.
    const plain = { ...request, receivers: request.receivers.map((r) => ({ ...r, type: SplitReceiverType.SPLIT_RECEIVER_TYPE_UNSPECIFIED })) };
    expect(await refusal(call(client, 'createSplit', plain))).toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
    // The member withdraws 5_000 of it.
    const withdrawal = {
      merchantId: merchant, merchantPayoutNo: `w-${member}`, amount: 5_000n, currency: 'CNY', memberId: member,
      payee: { accountNo: '6222020200445566', accountName: 'Li Si', bankCode: 'ICBC' }, purpose: '', channelId: '',
    };
    expect((await call<CreatePayoutResponse>(payouts, 'createPayout', withdrawal)).payout).toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED });
    expect(await wallet()).toMatchObject({ balance: 3_000n });
    const funds = await merchantFunds();
    // A refund of 12_000: the wallet gives what it holds (3_000), gina her 2_000, the merchant the other 7_000.
    await createRefund({ paymentId: payment.paymentId, amount: 12_000n });
    await eventually(async () => {
      const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
      return p.status === PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED ? p : undefined;
    }, 15_000, 'refund settled');
    await caughtUp();
    const after = (await call<GetSplitResponse>(client, 'getSplit', { merchantId: merchant, splitId: done.splitId })).split!;
    expect(after.receivers.map((r) => [r.receiverId, r.returnedAmount])).toEqual([[member, 3_000n], ['gina', 2_000n]]);
    expect(await wallet()).toMatchObject({ balance: 0n, frozen: 0n });
    expect(await merchantFunds()).toBe(funds - 7_000n);
    expect((await store.entriesOf(payment.paymentId)).map((e) => e.txn_code).filter((c) => c.startsWith('SPLIT')).sort())
      .toEqual(['SPLIT', 'SPLIT_RETURN', 'SPLIT_RETURN_MEMBER', 'SPLIT_TO_MEMBER']);
    // Each bad field named: a type that is none, a member id longer than a member's.
    const bad = split(payment.paymentId, [['x'.repeat(33), 1n], ['y', 1n]]);
    bad.receivers[0] = { ...bad.receivers[0]!, type: SplitReceiverType.SPLIT_RECEIVER_TYPE_MEMBER } as (typeof bad.receivers)[number];
    bad.receivers[1] = { ...bad.receivers[1]!, type: 7 } as (typeof bad.receivers)[number];
    expect((await refusal(call(client, 'createSplit', bad))).fields.sort()).toEqual(['receivers[0].receiver_id', 'receivers[1].type']);
    expect((await store.trialBalance()).balanced).toBe(true);
  } finally {
    payouts.close();
  }
});
