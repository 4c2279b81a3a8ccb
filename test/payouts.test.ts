// Integration: PayoutService through paycore (node dist/workers/main.js) with its books in a
// PostgreSQL database of this run's own and the bank gateway sandbox behind channel bank1 —
// create, get, list, the merchant scope (another merchant's payout is NOT_FOUND), validation
// naming the field, idempotency, and the funds frozen then posted in the books.

import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore, openDate } from '../core/ledger/store';
import { linesOf, platform_owner } from '../core/ledger/rules';
import { payoutId } from '../core/ids';
import { payout_service } from '../core/gateway/payouts';
import { payout_admin_service } from '../core/gateway/payout-admin';
import { merchant_admin_service } from '../core/gateway/admin';
import type { GetMerchantResponse, UpsertMerchantResponse } from '../proto/gen/paycore/v1/admin';
import {
  PayoutResolutionOutcome, PayoutStatus, type CreatePayoutResponse, type GetPayoutResponse, type GetSettlementAccountResponse,
  type ListDeadPayoutTimersResponse,
  type ListPayoutsResponse, type SetSettlementAccountResponse, type CreateTransferResponse, type GetTransferResponse, type GetMemberWalletResponse,
} from '../proto/gen/paycore/v1/payout';
import { defaultRouting, eventually, refusal, startStack, type Stack } from './harness';

type PayoutClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const merchant = 'm_it';
const sb_limits = { member_withdrawal_max_minor: '1000', member_withdrawal_daily_max_minor: '1500', transfer_max_minor: '700' };
let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;
let client: PayoutClient; // replaced after a restart
let other: PayoutClient;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  const routing = defaultRouting() as { apps: unknown[]; merchants: { merchant_id: string; group_id?: string; payout_limits?: unknown }[] };
  // m_it and m_sb form a group (transfers); m_sa is in none. m_sb has limits of its own.
  for (const entry of routing.merchants) if (entry.merchant_id === merchant || entry.merchant_id === 'm_sb') entry.group_id = 'g_it';
  routing.merchants.find((entry) => entry.merchant_id === 'm_sb')!.payout_limits = sb_limits;
  routing.apps.push({ app_id: 'po_other', merchants: ['m_sa'], roles: ['payouts:read', 'payouts:write'] });
  routing.apps.push({ app_id: 'po_reader', merchants: [merchant], roles: ['payouts:read'] });
  stack = await startStack({ routing, env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0', PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR: '4000000' } });
  store = new LedgerStore(db.url);
  client = stack.serviceClient<PayoutClient>(payout_service, 'PayoutService');
  other = stack.serviceClient<PayoutClient>(payout_service, 'PayoutService', stack.auth('po_other'));
});

afterAll(async () => {
  client?.close();
  other?.close();
  await stack?.stop();
  await store?.close();
  await db?.drop();
});

function call<T>(on: PayoutClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => on[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

/** Settled money for the merchant, as if paid through bank1 and settled. */
async function fund(amount: bigint, merchant_id = merchant): Promise<void> {
  const merchant = merchant_id;
  const key = randomBytes(4).toString('hex');
  await store.transaction(async (pg, created) => {
    const at = new Date().toISOString();
    const open = await openDate(pg);
    await store.post(pg, created, { entry_key: `fund:${key}`, txn_code: 'PAYMENT', merchant_id: merchant, currency: 'CNY', at, lines: linesOf('PAYMENT', { merchant_id: merchant, channel_id: 'bank1', currency: 'CNY' }, { gross: amount, net: amount }) }, open);
    await store.post(pg, created, { entry_key: `fund-settle:${key}`, txn_code: 'SETTLEMENT', merchant_id: merchant, currency: 'CNY', at, lines: linesOf('SETTLEMENT', { merchant_id: merchant, channel_id: platform_owner, currency: 'CNY' }, { gross: amount }) }, open);
  });
}

async function available(): Promise<bigint> {
  return (await store.balances(merchant)).find((row) => row.code === 'merchant_available')?.balance_minor ?? 0n;
}

const create = (overrides: Record<string, unknown> = {}) => ({
  merchantId: merchant, merchantPayoutNo: `po-${randomBytes(5).toString('hex')}`, amount: 1_200n, currency: 'CNY',
  payee: { accountNo: '6222020200112233', accountName: 'Zhang San', bankCode: 'ICBC' }, purpose: '', channelId: '', ...overrides,
});

test('payouts - CreatePayout pays through bank1 and moves the money out of available; GetPayout and ListPayouts show it; the same key again answers the same payout', async () => {
  await fund(10_000n);
  const before = await available();
  const request = create();
  const created = await call<CreatePayoutResponse>(client, 'createPayout', request);
  expect(created.payout).toMatchObject({ payoutId: payoutId(stack.id_key, merchant, request.merchantPayoutNo), status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED, amount: 1_200n, channelId: 'bank1', accountLast4: '2233', purpose: 'payout' });
  expect(created.payout!.channelPayoutNo).not.toBe('');
  expect(await available()).toBe(before - 1_200n);
  const again = await call<CreatePayoutResponse>(client, 'createPayout', request);
  expect(again.payout).toMatchObject({ payoutId: created.payout!.payoutId, status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED });
  expect(await available()).toBe(before - 1_200n);
  const sandbox = await fetch(`${stack.sandbox.url}/sandbox/bankgw/payouts?out_trade_no_prefix=${created.payout!.payoutId}`).then((r) => r.json() as Promise<{ payouts: { submissions: number }[] }>);
  expect(sandbox.payouts).toEqual([expect.objectContaining({ submissions: 1 })]);
  const got = await call<GetPayoutResponse>(client, 'getPayout', { merchantId: merchant, payoutId: created.payout!.payoutId });
  expect(got.payout).toMatchObject({ payoutId: created.payout!.payoutId, status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED });
  const listed = await eventually(async () => {
    const page = await call<ListPayoutsResponse>(client, 'listPayouts', { merchantId: merchant, status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED, pageSize: 0, pageToken: '' });
    return page.payouts.some((p) => p.payoutId === created.payout!.payoutId) ? page : undefined;
  }, 5_000, 'the payout listed');
  expect(listed.payouts.find((p) => p.payoutId === created.payout!.payoutId)).toMatchObject({ amount: 1_200n, accountLast4: '2233' });
  expect(await refusal(call(client, 'createPayout', { ...request, amount: 1_300n }))).toMatchObject({ reason: 'IDEMPOTENCY_KEY_REUSED' });
});

test('payouts - beyond the available balance: FAILED INSUFFICIENT_BALANCE, nothing moved', async () => {
  const before = await available();
  const created = await call<CreatePayoutResponse>(client, 'createPayout', create({ amount: before + 1n }));
  expect(created.payout).toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_FAILED, failureCode: 'INSUFFICIENT_BALANCE' });
  expect(await available()).toBe(before);
});

test("payouts - scoped by merchant: another merchant's app gets NOT_FOUND for the payout and FORBIDDEN for the merchant; a reader cannot create", async () => {
  await fund(5_000n);
  const created = await call<CreatePayoutResponse>(client, 'createPayout', create({ amount: 100n }));
  const payout_id = created.payout!.payoutId;
  expect(await refusal(call(other, 'getPayout', { merchantId: 'm_sa', payoutId: payout_id }))).toMatchObject({ reason: 'NOT_FOUND' });
  expect(await refusal(call(other, 'getPayout', { merchantId: merchant, payoutId: payout_id }))).toMatchObject({ reason: 'FORBIDDEN' });
  expect(await refusal(call(other, 'listPayouts', { merchantId: merchant, status: 0, pageSize: 0, pageToken: '' }))).toMatchObject({ reason: 'FORBIDDEN' });
  expect(await refusal(call(other, 'createPayout', create()))).toMatchObject({ reason: 'FORBIDDEN' });
  const reader = stack.serviceClient<PayoutClient>(payout_service, 'PayoutService', stack.auth('po_reader'));
  try {
    expect(await refusal(call(reader, 'createPayout', create()))).toMatchObject({ reason: 'FORBIDDEN' });
    expect((await call<GetPayoutResponse>(reader, 'getPayout', { merchantId: merchant, payoutId: payout_id })).payout?.payoutId).toBe(payout_id);
  } finally {
    reader.close();
  }
});

test('payouts - bad input is refused naming each field, and nothing is created', async () => {
  const bad = await refusal(call(client, 'createPayout', create({ merchantPayoutNo: 'no spaces', amount: 0n, currency: 'cny', payee: { accountNo: '12ab', accountName: '', bankCode: 'icbc' } })));
  expect(bad).toMatchObject({ reason: 'INVALID_FIELD' });
  expect(bad.fields.sort()).toEqual(['amount', 'currency', 'merchant_payout_no', 'payee.account_name', 'payee.account_no', 'payee.bank_code']);
  expect((await refusal(call(client, 'createPayout', create({ payee: undefined })))).fields).toEqual(['payee']);
  expect((await refusal(call(client, 'getPayout', { merchantId: merchant, payoutId: 'p123' }))).fields).toEqual(['payout_id']);
  expect((await refusal(call(client, 'listPayouts', { merchantId: merchant, status: 0, pageSize: 501, pageToken: 'zz' }))).fields.sort()).toEqual(['page_size', 'page_token']);
});

test('payouts - paycore killed with SIGKILL while the bank holds its answer: after a restart the follow-up settles it, one payout at the bank, the books balanced', async () => {
  await fund(3_000n);
  const before = await available();
  const request = create({ amount: 700n });
  const payout_id = payoutId(stack.id_key, merchant, request.merchantPayoutNo);
  // The bank makes the payout, then sits on its answer: the call is in flight.
  await stack.fault({ scope: { provider: 'bankgw', out_trade_no: payout_id }, operations: ['payout'], latency_ms: 10_000, times: 1 });
  const creating = call(client, 'createPayout', request).then(() => 'answered', () => 'refused');
  const atBank = async () => (await fetch(`${stack.sandbox.url}/sandbox/bankgw/payouts?out_trade_no_prefix=${payout_id}`).then((r) => r.json() as Promise<{ payouts: { payout_status: string; submissions: number }[] }>)).payouts;
  await eventually(async () => ((await atBank()).length === 1 ? true : undefined), 10_000, 'the payout made at the bank');
  await stack.paycore.kill('SIGKILL');
  expect(await creating).toBe('refused');
  client.close();
  await stack.restart();
  client = stack.serviceClient<PayoutClient>(payout_service, 'PayoutService');
  const paid = await eventually(async () => {
    const got = await call<GetPayoutResponse>(client, 'getPayout', { merchantId: merchant, payoutId: payout_id });
    return got.payout?.status === PayoutStatus.PAYOUT_STATUS_SUCCEEDED ? got.payout : undefined;
  }, 30_000, 'the payout SUCCEEDED after the restart');
  expect(paid.channelPayoutNo).not.toBe('');
  expect(await atBank()).toEqual([expect.objectContaining({ payout_status: 'SUCCESS', submissions: 1 })]);
  // The freeze moved it out of available already; sent, it leaves frozen too.
  const frozen = async () => (await store.balances(merchant)).find((row) => row.code === 'merchant_frozen')?.balance_minor ?? 0n;
  await eventually(async () => ((await frozen()) === 0n ? true : undefined), 10_000, 'the payout posted as sent');
  expect(await available()).toBe(before - 700n);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('payouts - PayoutAdminService: a settlement account set and read back (payee as its last four digits), no dead timers, each bad field named, and no access without admin:payouts', async () => {
  const admin = stack.serviceClient<PayoutClient>(payout_admin_service, 'PayoutAdminService');
  const merchant_scoped = stack.serviceClient<PayoutClient>(payout_admin_service, 'PayoutAdminService', stack.auth('po_other'));
  try {
    const payee = { accountNo: '6222020200115566', accountName: 'Zhao Liu', bankCode: 'ICBC' };
    const set = await call<SetSettlementAccountResponse>(admin, 'setSettlementAccount', { merchantId: merchant, payee, channelId: 'bank1' });
    expect(set.account).toMatchObject({ merchantId: merchant, channelId: 'bank1', bankCode: 'ICBC', accountLast4: '5566' });
    expect(JSON.stringify(set, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('6222020200115566');
    const got = await call<GetSettlementAccountResponse>(admin, 'getSettlementAccount', { merchantId: merchant });
    expect(got.account).toMatchObject({ accountLast4: '5566', channelId: 'bank1' });
    expect(await refusal(call(admin, 'getSettlementAccount', { merchantId: 'm_none' }))).toMatchObject({ reason: 'NOT_FOUND' });
    const bad = await refusal(call(admin, 'setSettlementAccount', { merchantId: 'bad id', payee: { ...payee, accountNo: 'x' }, channelId: '' }));
    expect(bad.fields.sort()).toEqual(['channel_id', 'merchant_id', 'payee.account_no']);
    expect((await refusal(call(admin, 'setSettlementAccount', { merchantId: merchant, payee, channelId: 'wx1' }))).fields).toEqual(['channel_id']);
    expect((await call<ListDeadPayoutTimersResponse>(admin, 'listDeadPayoutTimers', { limit: 0, afterSeq: 0n })).deadTimers).toEqual([]);
    expect(await refusal(call(admin, 'redrivePayoutTimer', { seq: 999n }))).toMatchObject({ reason: 'NOT_FOUND' });
    expect((await refusal(call(admin, 'listDeadPayoutTimers', { limit: 5_000, afterSeq: 0n }))).fields).toEqual(['limit']);
    expect(await refusal(call(merchant_scoped, 'getSettlementAccount', { merchantId: 'm_sa' }))).toMatchObject({ reason: 'FORBIDDEN' });
    // ResolvePayout: only a REQUIRES_MANUAL payout (core/payouts/payouts.test.ts resolves them); each bad field named.
    await fund(1_000n);
    const paid = (await call<CreatePayoutResponse>(client, 'createPayout', create({ amount: 100n }))).payout!;
    const resolve = { merchantId: merchant, payoutId: paid.payoutId, outcome: PayoutResolutionOutcome.PAYOUT_RESOLUTION_OUTCOME_FAILED, channelPayoutNo: '', reason: 'bank says no' };
    expect(await refusal(call(admin, 'resolvePayout', resolve))).toMatchObject({ reason: 'ILLEGAL_STATE' });
    expect(await refusal(call(admin, 'resolvePayout', { ...resolve, merchantId: 'm_sb' }))).toMatchObject({ reason: 'NOT_FOUND' });
    const bad_resolve = await refusal(call(admin, 'resolvePayout', { ...resolve, payoutId: 'x', outcome: PayoutResolutionOutcome.PAYOUT_RESOLUTION_OUTCOME_SUCCEEDED, reason: ' ' }));
    expect(bad_resolve.fields.sort()).toEqual(['channel_payout_no', 'payout_id', 'reason']);
    expect((await refusal(call(admin, 'resolvePayout', { ...resolve, outcome: PayoutResolutionOutcome.PAYOUT_RESOLUTION_OUTCOME_UNSPECIFIED }))).fields).toEqual(['outcome']);
    expect(await refusal(call(merchant_scoped, 'resolvePayout', resolve))).toMatchObject({ reason: 'FORBIDDEN' });
  } finally {
    admin.close();
    merchant_scoped.close();
  }
});

test('payouts - CreateTransfer moves available money to a merchant of the same group at once; a repeat finds it; the payee sees it; outside the group, bad fields and other apps are refused', async () => {
  await fund(2_000n);
  const payer_before = await available();
  const payee_available = async () => (await store.balances('m_sb')).find((row) => row.code === 'merchant_available')?.balance_minor ?? 0n;
  const payee_before = await payee_available();
  const request = { merchantId: merchant, merchantTransferNo: `tr-${randomBytes(4).toString('hex')}`, toMerchantId: 'm_sb', amount: 600n, currency: 'CNY', memo: 'group funds' };
  const created = await call<CreateTransferResponse>(client, 'createTransfer', request);
  expect(created.transfer).toMatchObject({ merchantId: merchant, toMerchantId: 'm_sb', amount: 600n, memo: 'group funds' });
  expect(created.transfer!.transferId).toMatch(/^t[a-z2-7]{25}$/);
  expect((await call<CreateTransferResponse>(client, 'createTransfer', request)).transfer).toEqual(created.transfer);
  expect(await available()).toBe(payer_before - 600n);
  expect(await payee_available()).toBe(payee_before + 600n);
  expect((await call<GetTransferResponse>(client, 'getTransfer', { merchantId: 'm_sb', transferId: created.transfer!.transferId })).transfer).toEqual(created.transfer);
  expect(await refusal(call(other, 'getTransfer', { merchantId: 'm_sa', transferId: created.transfer!.transferId }))).toMatchObject({ reason: 'NOT_FOUND' });
  expect(await refusal(call(client, 'createTransfer', { ...request, merchantTransferNo: 'tr-out', toMerchantId: 'm_sa' }))).toMatchObject({ reason: 'ILLEGAL_STATE' });
  expect(await refusal(call(client, 'createTransfer', { ...request, merchantTransferNo: 'tr-big', amount: payer_before + 1n }))).toMatchObject({ reason: 'INSUFFICIENT_BALANCE' });
  expect(await refusal(call(other, 'createTransfer', { ...request, merchantTransferNo: 'tr-other' }))).toMatchObject({ reason: 'FORBIDDEN' });
  const bad = await refusal(call(client, 'createTransfer', { merchantId: merchant, merchantTransferNo: 'x y', toMerchantId: merchant, amount: 0n, currency: 'cny', memo: '' }));
  expect(bad.fields.sort()).toEqual(['amount', 'currency', 'merchant_transfer_no', 'to_merchant_id']);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('payouts - member wallets: CreateTransfer with to_member_id credits a member, CreatePayout with member_id withdraws from its wallet, GetMemberWallet shows it; the wallet and the limits hold; other apps and bad fields are refused', async () => {
  await fund(5_000n);
  const member = `u${randomBytes(4).toString('hex')}`;
  const payer_before = await available();
  const credit = { merchantId: merchant, merchantTransferNo: `mc-${member}`, toMerchantId: '', toMemberId: member, amount: 3_000n, currency: 'CNY', memo: 'cashback' };
  const credited = await call<CreateTransferResponse>(client, 'createTransfer', credit);
  expect(credited.transfer).toMatchObject({ merchantId: merchant, toMerchantId: merchant, toMemberId: member, amount: 3_000n });
  expect(await available()).toBe(payer_before - 3_000n);
  const withdrawal = create({ memberId: member, amount: 1_000n });
  const paid = await call<CreatePayoutResponse>(client, 'createPayout', withdrawal);
  expect(paid.payout).toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED, memberId: member, amount: 1_000n });
  expect(await available()).toBe(payer_before - 3_000n);
  const short = await call<CreatePayoutResponse>(client, 'createPayout', create({ memberId: member, amount: 2_001n }));
  expect(short.payout).toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_FAILED, failureCode: 'INSUFFICIENT_BALANCE', memberId: member });
  const got = await call<GetMemberWalletResponse>(client, 'getMemberWallet', { merchantId: merchant, memberId: member, currency: 'CNY' });
  expect(got.wallet).toMatchObject({ merchantId: merchant, memberId: member, currency: 'CNY', balance: 2_000n, frozen: 0n, withdrawnToday: 1_000n });
  expect(got.wallet!.withdrawalMax).toBeGreaterThan(0n);
  expect(await refusal(call(client, 'createPayout', create({ memberId: member, amount: got.wallet!.withdrawalMax + 1n })))).toMatchObject({ reason: 'INVALID_FIELD', fields: ['amount'] });
  const listed = await eventually(async () => {
    const page = await call<ListPayoutsResponse>(client, 'listPayouts', { merchantId: merchant, status: 0, pageSize: 0, pageToken: '', memberId: member });
    return page.payouts.length === 2 ? page : undefined;
  }, 5_000, "the member's withdrawals listed");
  expect(listed.payouts.every((p) => p.memberId === member)).toBe(true);
  expect(await refusal(call(other, 'getMemberWallet', { merchantId: merchant, memberId: member, currency: 'CNY' }))).toMatchObject({ reason: 'FORBIDDEN' });
  const bad = await refusal(call(client, 'getMemberWallet', { merchantId: merchant, memberId: 'a b', currency: 'cny' }));
  expect(bad.fields.sort()).toEqual(['currency', 'member_id']);
  const bad_credit = await refusal(call(client, 'createTransfer', { ...credit, merchantTransferNo: 'mc-bad', toMerchantId: 'm_sb', toMemberId: 'a/b' }));
  expect(bad_credit.fields.sort()).toEqual(['to_member_id', 'to_merchant_id']);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('payouts - a member pays its merchant: CreateTransfer with from_member_id moves wallet money to the merchant at once; a repeat finds it; beyond the wallet, another app and bad fields are refused', async () => {
  await fund(4_000n);
  const member = `u${randomBytes(4).toString('hex')}`;
  await call<CreateTransferResponse>(client, 'createTransfer', { merchantId: merchant, merchantTransferNo: `mc-${member}`, toMerchantId: '', toMemberId: member, amount: 2_500n, currency: 'CNY', memo: 'top-up' });
  const before = await available();
  const pay = { merchantId: merchant, merchantTransferNo: `mp-${member}`, toMerchantId: '', fromMemberId: member, amount: 900n, currency: 'CNY', memo: 'order 7' };
  const paid = await call<CreateTransferResponse>(client, 'createTransfer', pay);
  expect(paid.transfer).toMatchObject({ merchantId: merchant, toMerchantId: merchant, fromMemberId: member, toMemberId: '', amount: 900n });
  expect((await call<CreateTransferResponse>(client, 'createTransfer', pay)).transfer).toEqual(paid.transfer);
  expect(await available()).toBe(before + 900n);
  const wallet = await call<GetMemberWalletResponse>(client, 'getMemberWallet', { merchantId: merchant, memberId: member, currency: 'CNY' });
  expect(wallet.wallet).toMatchObject({ balance: 1_600n });
  expect((await call<GetTransferResponse>(client, 'getTransfer', { merchantId: merchant, transferId: paid.transfer!.transferId })).transfer).toEqual(paid.transfer);
  expect(await refusal(call(client, 'createTransfer', { ...pay, merchantTransferNo: `mp2-${member}`, amount: 1_601n }))).toMatchObject({ reason: 'INSUFFICIENT_BALANCE' });
  // Scoped like every transfer: the payer's merchant (the member is one of its own).
  expect(await refusal(call(other, 'createTransfer', { ...pay, merchantTransferNo: `mp3-${member}` }))).toMatchObject({ reason: 'FORBIDDEN' });
  const bad = await refusal(call(client, 'createTransfer', { ...pay, merchantTransferNo: 'mp-bad', toMerchantId: 'm_sb', toMemberId: 'u2', fromMemberId: 'a b' }));
  expect(bad.fields.sort()).toEqual(['from_member_id', 'to_member_id', 'to_merchant_id']);
  expect(await available()).toBe(before + 900n);
  expect((await store.trialBalance()).balanced).toBe(true);
});

test('payouts - the limits are settings: the deployment default from PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR, a merchant\'s own payout_limits over it (routing file, MerchantAdminService), each enforced and shown; a bad one named', async () => {
  const wallet = async (merchant_id: string, member: string) => (await call<GetMemberWalletResponse>(client, 'getMemberWallet', { merchantId: merchant_id, memberId: member, currency: 'CNY' })).wallet!;
  // m_it: the environment's per-withdrawal limit, the code's daily one.
  expect(await wallet(merchant, 'u_limits')).toMatchObject({ withdrawalMax: 4_000_000n, dailyMax: 20_000_000n });
  // m_sb: its own, from the routing file.
  expect(await wallet('m_sb', 'u_limits')).toMatchObject({ withdrawalMax: 1_000n, dailyMax: 1_500n });
  await fund(5_000n, 'm_sb');
  const credit = (no: string, amount: bigint) => call<CreateTransferResponse>(client, 'createTransfer', { merchantId: 'm_sb', merchantTransferNo: no, toMerchantId: '', toMemberId: 'u_limits', amount, currency: 'CNY', memo: '' });
  expect(await refusal(credit('lim-c0', 701n))).toMatchObject({ reason: 'INVALID_FIELD', fields: ['amount'] });
  for (const no of ['lim-c1', 'lim-c2', 'lim-c3']) await credit(no, 700n);
  expect(await refusal(call(client, 'createPayout', create({ merchantId: 'm_sb', memberId: 'u_limits', amount: 1_001n })))).toMatchObject({ reason: 'INVALID_FIELD', fields: ['amount'] });
  expect((await call<CreatePayoutResponse>(client, 'createPayout', create({ merchantId: 'm_sb', memberId: 'u_limits', amount: 1_000n }))).payout).toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED });
  expect((await call<CreatePayoutResponse>(client, 'createPayout', create({ merchantId: 'm_sb', memberId: 'u_limits', amount: 600n }))).payout)
    .toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_FAILED, failureCode: 'DAILY_LIMIT_EXCEEDED' });
  // Changed through MerchantAdminService: in force at once, shown back; 0 leaves a limit to the deployment's default.
  const admin = stack.serviceClient<PayoutClient>(merchant_admin_service, 'MerchantAdminService');
  try {
    const current = (await call<GetMerchantResponse>(admin, 'getMerchant', { merchantId: 'm_sb' })).merchant!;
    expect(current.payoutLimits).toEqual({ memberWithdrawalMax: 1_000n, memberWithdrawalDailyMax: 1_500n, transferMax: 700n, transferDailyMax: 0n });
    const limits = { memberWithdrawalMax: 0n, memberWithdrawalDailyMax: 3_000n, transferMax: 2_000n, transferDailyMax: 0n };
    const upserted = await call<UpsertMerchantResponse>(admin, 'upsertMerchant', { merchant: { ...current, payoutLimits: limits } });
    expect(upserted.merchant!.payoutLimits).toEqual(limits);
    expect(await wallet('m_sb', 'u_limits')).toMatchObject({ withdrawalMax: 4_000_000n, dailyMax: 3_000n, withdrawnToday: 1_000n });
    expect((await call<CreatePayoutResponse>(client, 'createPayout', create({ merchantId: 'm_sb', memberId: 'u_limits', amount: 1_100n }))).payout).toMatchObject({ status: PayoutStatus.PAYOUT_STATUS_SUCCEEDED });
    await credit('lim-c4', 2_000n);
    const bad = await refusal(call(admin, 'upsertMerchant', { merchant: { ...current, payoutLimits: { ...limits, transferMax: -5n, memberWithdrawalMax: 4_000n } } }));
    expect(bad).toMatchObject({ reason: 'INVALID_FIELD' });
    expect(bad.fields.sort()).toEqual(['merchant.payout_limits.member_withdrawal_max', 'merchant.payout_limits.transfer_max']);
  } finally {
    admin.close();
  }
  expect((await store.trialBalance()).balanced).toBe(true);
});
