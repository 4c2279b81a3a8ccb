// The split state machine as a table: each row a history, a command, and what must follow.

import { decideSplit, evolveSplit } from './decide';
import type { SplitCommand, SplitEvent, SplitInput, SplitState, SplitStatus } from './types';

const at = '2026-12-01T02:00:00.000Z';
const later = '2026-12-01T02:00:05.000Z';
const input: SplitInput = {
  merchant_id: 'm1', merchant_split_no: 'sp-1', payment_id: 'p1', currency: 'CNY', description: 'courier',
  receivers: [{ receiver_id: 'alice', amount_minor: 300n }, { receiver_id: 'bob', amount_minor: 200n }],
};

function replay(events: SplitEvent[]): SplitState | undefined {
  return events.reduce<SplitState | undefined>((state, event) => evolveSplit(state, event), undefined);
}

const created: SplitEvent = { type: 'SplitCreated', split_id: 's1', at, ...input };
const succeeded: SplitEvent = { type: 'SplitSucceeded', at: later };
const failed: SplitEvent = { type: 'SplitFailed', code: 'EXCEEDS_SPLITTABLE', message: 'too much', at: later };
const create: SplitCommand = { type: 'create', split_id: 's1', input, at };
const allocated: SplitCommand = { type: 'allocated', at: later };
const refused: SplitCommand = { type: 'refused', code: 'EXCEEDS_SPLITTABLE', message: 'too much', at: later };

type Row = [name: string, history: SplitEvent[], command: SplitCommand, events: SplitEvent['type'][], status: SplitStatus | undefined];

const rows: Row[] = [
  ['create a new split', [], create, ['SplitCreated'], 'PENDING'],
  ['a retry of the create changes nothing', [created], create, [], 'PENDING'],
  ['a retry after success changes nothing', [created, succeeded], create, [], 'SUCCEEDED'],
  ['the books posted the shares', [created], allocated, ['SplitSucceeded'], 'SUCCEEDED'],
  ['the books refused them', [created], refused, ['SplitFailed'], 'FAILED'],
  ['a second answer after success changes nothing', [created, succeeded], refused, [], 'SUCCEEDED'],
  ['a second answer after failure changes nothing', [created, failed], allocated, [], 'FAILED'],
];

test.each(rows)('%s', (_name, history, command, events, status) => {
  const state = replay(history);
  const decision = decideSplit(state, command);
  if ('rejection' in decision) throw new Error(decision.rejection.message);
  expect(decision.events.map((e) => e.type)).toEqual(events);
  expect(replay([...history, ...decision.events])?.status).toBe(status);
});

test('the same key with other fields is refused; a command for no split is NOT_FOUND', () => {
  const state = replay([created]);
  const other = (change: Partial<SplitInput>) => decideSplit(state, { ...create, input: { ...input, ...change } });
  for (const change of [
    { payment_id: 'p2' }, { currency: 'USD' }, { description: 'other' }, { merchant_id: 'm2' },
    { receivers: [input.receivers[0]!] }, { receivers: [{ receiver_id: 'alice', amount_minor: 301n }, input.receivers[1]!] },
    { receivers: [{ receiver_id: 'carol', amount_minor: 300n }, input.receivers[1]!] }, { finish: true as const },
    { receivers: [{ ...input.receivers[0]!, member: true as const }, input.receivers[1]!] },
  ]) {
    expect(other(change)).toEqual({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED', message: 'merchant_split_no sp-1 names another split (s1)' } });
  }
  // The merchant's last split (finish) again is the same split; without finish it names another.
  const last = replay([{ ...created, finish: true }]);
  expect(decideSplit(last, { ...create, input: { ...input, finish: true } })).toEqual({ events: [] });
  expect(decideSplit(last, create)).toMatchObject({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED' } });
  // A share to a member wallet again is the same split; the same receiver not as a member names another.
  const to_member = { ...input, receivers: [{ ...input.receivers[0]!, member: true as const }, input.receivers[1]!] };
  expect(decideSplit(replay([{ ...created, ...to_member }]), { ...create, input: to_member })).toEqual({ events: [] });
  expect(decideSplit(replay([{ ...created, ...to_member }]), create)).toMatchObject({ rejection: { reason: 'IDEMPOTENCY_KEY_REUSED' } });
  expect(decideSplit(undefined, allocated)).toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no such split' } });
  expect(decideSplit(undefined, refused)).toEqual({ rejection: { reason: 'NOT_FOUND', message: 'no such split' } });
});

test('the state: the total of the shares, the version and times, the failure', () => {
  expect(replay([created])).toMatchObject({ split_id: 's1', amount_minor: 500n, status: 'PENDING', version: 1, created_at: at, updated_at: at });
  expect(replay([created])?.finished_at).toBeUndefined();
  expect(replay([created, succeeded])).toMatchObject({ status: 'SUCCEEDED', version: 2, created_at: at, updated_at: later, finished_at: later });
  expect(replay([created, succeeded])?.failure).toBeUndefined();
  expect(replay([created, failed])).toMatchObject({ status: 'FAILED', version: 2, failure: { code: 'EXCEEDS_SPLITTABLE', message: 'too much' } });
  expect(() => evolveSplit(undefined, succeeded)).toThrow('split: SplitSucceeded before SplitCreated');
  expect(() => evolveSplit(undefined, failed)).toThrow('split: SplitFailed before SplitCreated');
  expect(() => evolveSplit(replay([created]), created)).toThrow('split: created twice');
});

// A split made at the payment's channel (WeChat Pay 分账).
const channel = { channel_id: 'wxps', attempt_id: 'p1a1', channel_trade_no: '4200000001', product: 'WECHAT_NATIVE', amount_minor: 1_000n };
const at_channel: SplitEvent = { type: 'SplitCreated', split_id: 's1', at, ...input, channel };
const submitted: SplitEvent = { type: 'SplitSubmitted', at: later };
const stalled: SplitCommand = { type: 'stalled', queries: 20, at: later };
const unfreeze: SplitEvent = { type: 'SplitCreated', split_id: 's1', at, ...input, receivers: [], finish: true, channel };
const shared = (received: boolean[]): SplitCommand => ({ type: 'shared', channel_split_no: '3008', received, at: later });
const channel_done: SplitEvent = { type: 'SplitSucceeded', at: later, channel_split_no: '3008' };
const ask_return: SplitCommand = { type: 'return', return_no: 'r1_s1_1', refund_id: 'r1', line_no: 1, amount_minor: 100n, at: later };
const return_asked: SplitEvent = { type: 'SplitReturnRequested', return_no: 'r1_s1_1', refund_id: 'r1', line_no: 1, amount_minor: 100n, at: later };

const channel_rows: Row[] = [
  ['a channel split allocated is written ahead (PROCESSING), not succeeded', [at_channel], allocated, ['SplitSubmitted'], 'PROCESSING'],
  ['the provider finished it: every receiver reached', [at_channel, submitted], shared([true, true]), ['SplitSucceeded'], 'SUCCEEDED'],
  ['the provider reached one receiver of two', [at_channel, submitted], shared([true, false]), ['SplitSucceeded'], 'SUCCEEDED'],
  ['the provider closed every share', [at_channel, submitted], shared([false, false]), ['SplitFailed'], 'FAILED'],
  ['still PROCESSING past the bound of queries: REQUIRES_MANUAL', [at_channel, submitted], stalled, ['SplitStalled'], 'REQUIRES_MANUAL'],
  ['stalled again changes nothing', [at_channel, submitted, { type: 'SplitStalled', queries: 20, at: later }], stalled, [], 'REQUIRES_MANUAL'],
  ['REQUIRES_MANUAL finished by the provider', [at_channel, submitted, { type: 'SplitStalled', queries: 20, at: later }], shared([true, true]), ['SplitSucceeded'], 'SUCCEEDED'],
  ['REQUIRES_MANUAL refused by the provider', [at_channel, submitted, { type: 'SplitStalled', queries: 20, at: later }], refused, ['SplitFailed'], 'FAILED'],
  ['a split not at the provider is never stalled', [at_channel], stalled, [], 'PENDING'],
  ['an unfreeze (finish, no receivers) the provider finished', [unfreeze, submitted], shared([]), ['SplitSucceeded'], 'SUCCEEDED'],
  ['the provider refused the order', [at_channel, submitted], refused, ['SplitFailed'], 'FAILED'],
  ['a second allocation answer while at the provider changes nothing', [at_channel, submitted], allocated, [], 'PROCESSING'],
  ['a provider answer before the write-ahead changes nothing', [at_channel], shared([true, true]), [], 'PENDING'],
  ['a return of a finished channel split is written ahead', [at_channel, submitted, channel_done], ask_return, ['SplitReturnRequested'], 'SUCCEEDED'],
  ['the same return again changes nothing', [at_channel, submitted, channel_done, return_asked], ask_return, [], 'SUCCEEDED'],
  ['the return settled', [at_channel, submitted, channel_done, return_asked], { type: 'return_settled', return_no: 'r1_s1_1', succeeded: true, at: later }, ['SplitReturnSettled'], 'SUCCEEDED'],
];

test.each(channel_rows)('%s', (_name, history, command, events, status) => {
  const state = replay(history);
  const decision = decideSplit(state, command);
  if ('rejection' in decision) throw new Error(decision.rejection.message);
  expect(decision.events.map((e) => e.type)).toEqual(events);
  expect(replay([...history, ...decision.events])?.status).toBe(status);
});

test('a channel split: the receivers the provider closed are kept on the state; returns only of a finished channel split; a refused return says why', () => {
  const decision = decideSplit(replay([at_channel, submitted]), shared([true, false]));
  const state = replay([at_channel, submitted, ...('events' in decision ? decision.events : [])]);
  expect(state).toMatchObject({ status: 'SUCCEEDED', channel_split_no: '3008', received: [true, false] });
  expect(replay([at_channel, submitted, channel_done])?.received).toBeUndefined();
  expect(decideSplit(replay([at_channel, submitted]), ask_return)).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  expect(decideSplit(replay([created, succeeded]), ask_return)).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  const refused_return = replay([at_channel, submitted, channel_done, return_asked, { type: 'SplitReturnSettled', return_no: 'r1_s1_1', succeeded: false, code: 'ACCOUNT_ABNORMAL', message: 'no', at: later }]);
  expect(refused_return?.returns).toEqual([{ return_no: 'r1_s1_1', refund_id: 'r1', line_no: 1, amount_minor: 100n, status: 'FAILED', requested_at: later, failure: { code: 'ACCOUNT_ABNORMAL', message: 'no' } }]);
  // A settled return is not settled again.
  expect(decideSplit(refused_return, { type: 'return_settled', return_no: 'r1_s1_1', succeeded: true, at: later })).toEqual({ events: [] });
});

test('a channel split: what the decisions carry — the closed split\'s failure, a full success without a received list, returns told apart by their number', () => {
  const all_closed = decideSplit(replay([at_channel, submitted]), shared([false, false]));
  expect(all_closed).toEqual({ events: [{ type: 'SplitFailed', code: 'CHANNEL_CLOSED', message: 'the provider closed every share of the split', at: later }] });
  expect(decideSplit(replay([at_channel, submitted]), shared([true, true]))).toEqual({ events: [{ type: 'SplitSucceeded', at: later, channel_split_no: '3008' }] });
  expect(decideSplit(replay([created]), ask_return)).toEqual({ rejection: { reason: 'ILLEGAL_STATE', message: 'split s1 is PENDING: nothing to return at the channel' } });

  // A second return (another refund) of the same split is its own; settling one leaves the other.
  const done = [at_channel, submitted, channel_done, return_asked];
  const second: SplitCommand = { ...ask_return, return_no: 'r2_s1_1', refund_id: 'r2' };
  const asked_second = decideSplit(replay(done), second);
  expect(asked_second).toEqual({ events: [{ type: 'SplitReturnRequested', return_no: 'r2_s1_1', refund_id: 'r2', line_no: 1, amount_minor: 100n, at: later }] });
  const both = [...done, ...('events' in asked_second ? asked_second.events : [])];
  const settled: SplitEvent = { type: 'SplitReturnSettled', return_no: 'r1_s1_1', succeeded: true, at: later };
  expect(replay([...both, settled])?.returns).toEqual([
    { return_no: 'r1_s1_1', refund_id: 'r1', line_no: 1, amount_minor: 100n, status: 'SUCCEEDED', requested_at: later },
    { return_no: 'r2_s1_1', refund_id: 'r2', line_no: 1, amount_minor: 100n, status: 'PROCESSING', requested_at: later },
  ]);
  // A provider answer for a return the split never asked changes nothing.
  expect(decideSplit(replay(done), { type: 'return_settled', return_no: 'r9_s1_1', succeeded: true, at: later })).toEqual({ events: [] });
  // A refused return without the provider's code or message.
  const bare = replay([...done, { type: 'SplitReturnSettled', return_no: 'r1_s1_1', succeeded: false, at: later }]);
  expect(bare?.returns[0]).toEqual({ return_no: 'r1_s1_1', refund_id: 'r1', line_no: 1, amount_minor: 100n, status: 'FAILED', requested_at: later, failure: { code: 'FAILED', message: '' } });
});

test('a return the provider left open past the bound of queries: REQUIRES_MANUAL (once), then settled by the provider\'s late answer either way; a settled or unknown return is not stalled', () => {
  const done = [at_channel, submitted, channel_done, return_asked];
  const stall: SplitCommand = { type: 'return_stalled', return_no: 'r1_s1_1', at: later };
  const stalled_return: SplitEvent = { type: 'SplitReturnStalled', return_no: 'r1_s1_1', at: later };
  expect(decideSplit(replay(done), stall)).toEqual({ events: [stalled_return] });
  const manual = replay([...done, stalled_return]);
  expect(manual).toMatchObject({ status: 'SUCCEEDED', returns: [{ return_no: 'r1_s1_1', status: 'REQUIRES_MANUAL', requested_at: later }] });
  expect(decideSplit(manual, stall)).toEqual({ events: [] });
  expect(decideSplit(replay(done), { ...stall, return_no: 'r9_s1_1' })).toEqual({ events: [] });
  const late_success = decideSplit(manual, { type: 'return_settled', return_no: 'r1_s1_1', succeeded: true, at: later });
  expect(late_success).toEqual({ events: [{ type: 'SplitReturnSettled', return_no: 'r1_s1_1', succeeded: true, at: later }] });
  expect(replay([...done, stalled_return, ...('events' in late_success ? late_success.events : [])])?.returns[0]?.status).toBe('SUCCEEDED');
  const late_refusal = decideSplit(manual, { type: 'return_settled', return_no: 'r1_s1_1', succeeded: false, code: 'ACCOUNT_ABNORMAL', message: 'no', at: later });
  expect(replay([...done, stalled_return, ...('events' in late_refusal ? late_refusal.events : [])])?.returns[0]?.status).toBe('FAILED');
  const settled = replay([...done, { type: 'SplitReturnSettled', return_no: 'r1_s1_1', succeeded: true, at: later }]);
  expect(decideSplit(settled, stall)).toEqual({ events: [] });
});

test('an operator resolves a REQUIRES_MANUAL return: returned (SUCCEEDED) or not (FAILED RESOLVED_NOT_RETURNED), with who and why; the same again is nothing, the other or an open return ILLEGAL_STATE, an unknown one NOT_FOUND; the provider\'s late answer is not applied', () => {
  const done = [at_channel, submitted, channel_done, return_asked];
  const stalled_return: SplitEvent = { type: 'SplitReturnStalled', return_no: 'r1_s1_1', at: later };
  const manual = replay([...done, stalled_return]);
  const resolve = (returned: boolean): Extract<SplitCommand, { type: 'return_resolved' }> => ({ type: 'return_resolved', return_no: 'r1_s1_1', returned, actor: 'app:ops', reason: 'asked WeChat', at: later });
  const not_returned: SplitEvent = { type: 'SplitReturnResolved', return_no: 'r1_s1_1', returned: false, actor: 'app:ops', reason: 'asked WeChat', at: later };
  expect(decideSplit(manual, resolve(false))).toEqual({ events: [not_returned] });
  const refused = replay([...done, stalled_return, not_returned]);
  expect(refused?.returns[0]).toMatchObject({ status: 'FAILED', failure: { code: 'RESOLVED_NOT_RETURNED', message: 'asked WeChat' }, resolved: { actor: 'app:ops', reason: 'asked WeChat' } });
  expect(decideSplit(refused, resolve(false))).toEqual({ events: [] });
  expect(decideSplit(refused, resolve(true))).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  expect(decideSplit(refused, { type: 'return_settled', return_no: 'r1_s1_1', succeeded: true, at: later })).toEqual({ events: [] });
  const returned = replay([...done, stalled_return, { ...not_returned, returned: true }]);
  expect(returned?.returns[0]).toMatchObject({ status: 'SUCCEEDED', resolved: { actor: 'app:ops' } });
  expect(decideSplit(returned, resolve(true))).toEqual({ events: [] });
  expect(decideSplit(returned, resolve(false))).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  expect(decideSplit(replay(done), resolve(true))).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  const settled = replay([...done, { type: 'SplitReturnSettled', return_no: 'r1_s1_1', succeeded: true, at: later }]);
  expect(decideSplit(settled, resolve(true))).toMatchObject({ rejection: { reason: 'ILLEGAL_STATE' } });
  expect(decideSplit(manual, { ...resolve(true), return_no: 'r9_s1_1' })).toMatchObject({ rejection: { reason: 'NOT_FOUND' } });
});

test('a split recorded before returns existed (its state has none) evolves with an empty list', () => {
  const legacy = { ...replay([created])!, returns: undefined } as unknown as SplitState;
  expect(evolveSplit(legacy, succeeded).returns).toEqual([]);
});

test('a retry of a split that finishes the payment\'s splitting (finish), with finish again, changes nothing', () => {
  const finishing: SplitInput = { ...input, finish: true };
  const state = replay([{ type: 'SplitCreated', split_id: 's1', at, ...finishing }]);
  expect(decideSplit(state, { ...create, input: finishing })).toEqual({ events: [] });
});
