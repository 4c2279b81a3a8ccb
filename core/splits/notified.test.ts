// SplitService.notified: a verified profit-sharing callback is a trigger only — it queries the
// split it names (a split id, or a return's number) when the split was made on that channel and
// transaction and is still open, and is refused otherwise. The event log and the books are
// in-memory stand-ins; the provider is a stub that counts its queries.

import { test_id_key } from '../ids.fixture';
import { createLogger } from '../log';
import { Sealer } from '../seal';
import { evolveSplit } from './decide';
import { SplitService } from './service';
import type { LoadedSplit } from './store';
import type { SplitEvent, SplitState } from './types';
import type { ProfitSharing, ShareOutcome } from '../../channels/channel';

const split_id = 'sabcdefghijklmnopqrstuvwxy';
const channel = { channel_id: 'wxps', attempt_id: 'p1a1', channel_trade_no: '4200000001', product: 'WECHAT_NATIVE', amount_minor: 10_000n };
const at = '2026-12-01T02:00:00.000Z';

function setup(events: SplitEvent[]) {
  let loaded: LoadedSplit | undefined;
  let state: SplitState | undefined;
  for (const event of events) state = evolveSplit(state, event);
  if (state !== undefined) loaded = { state, seq: 1 };
  const queries: string[] = [];
  let answer: ShareOutcome = { kind: 'finished', channel_share_no: '3008', received: [true] };
  const sharing: ProfitSharing = {
    share: () => Promise.reject(new Error('not asked here')),
    queryShare: (request) => {
      queries.push(request.share_no);
      return Promise.resolve(answer);
    },
    returnShare: () => Promise.reject(new Error('not asked here')),
    queryReturn: () => Promise.resolve({ kind: 'succeeded' }),
  };
  const service = new SplitService({
    store: {
      load: () => Promise.resolve(loaded),
      append: (_id, before, appended) => {
        let next = before!.state;
        for (const event of appended) next = evolveSplit(next, event);
        loaded = { state: next, seq: before!.seq + 1 };
        return Promise.resolve(loaded);
      },
      schedule: () => Promise.resolve(),
    },
    books: { allocate: () => Promise.reject(new Error('not asked here')), sync: () => Promise.resolve(), planReturns: () => Promise.reject(new Error('not asked here')),
      releaseReturns: () => Promise.reject(new Error('not asked here')), orphanClaims: () => Promise.reject(new Error('not asked here')),
      releaseOrphan: () => Promise.reject(new Error('not asked here')) },
    payment: () => Promise.resolve(undefined), channels: new Map([['wxps', sharing]]), id_key: test_id_key,
    follow_up_ms: [1_000], stall_queries: 20, log: createLogger('silent'), now: () => new Date(at), sealer: new Sealer(Buffer.alloc(32, 7)),
  });
  return { service, queries, state: () => loaded?.state, answer: (next: ShareOutcome) => { answer = next; } };
}

const created: SplitEvent = {
  type: 'SplitCreated', split_id, at, merchant_id: 'm1', merchant_split_no: 'n1', payment_id: 'p1', currency: 'CNY', description: 'd',
  receivers: [{ receiver_id: '1900000101', amount_minor: 100n }], channel,
};
const submitted: SplitEvent = { type: 'SplitSubmitted', at };

test('a callback about a PROCESSING split queries it at once and records the answer', async () => {
  const { service, queries, state } = setup([created, submitted]);
  expect(await service.notified('wxps', split_id, channel.channel_trade_no)).toBe(true);
  expect(queries).toEqual([split_id]);
  expect(state()?.status).toBe('SUCCEEDED');
  // A duplicate about the finished split asks the provider nothing.
  expect(await service.notified('wxps', split_id, channel.channel_trade_no)).toBe(true);
  expect(queries).toHaveLength(1);
});

test('a callback while the provider still answers PROCESSING is taken; the split stays PROCESSING (the follow-ups go on)', async () => {
  const { service, queries, state, answer } = setup([created, submitted]);
  answer({ kind: 'processing' });
  expect(await service.notified('wxps', split_id, channel.channel_trade_no)).toBe(true);
  expect(queries).toHaveLength(1);
  expect(state()?.status).toBe('PROCESSING');
});

test('a callback naming a return (<refund_id>_<split_id>_<line>) drives that split', async () => {
  const { service, queries } = setup([created, submitted]);
  expect(await service.notified('wxps', `rabcdefghijklmnopqrstuvwxy_${split_id}_1`, channel.channel_trade_no)).toBe(true);
  expect(queries).toEqual([split_id]);
});

test('refused, nothing asked: another channel, another transaction, a split not made, a number that names no split', async () => {
  const { service, queries } = setup([created, submitted]);
  expect(await service.notified('wxother', split_id, channel.channel_trade_no)).toBe(false);
  expect(await service.notified('wxps', split_id, '4200000999')).toBe(false);
  expect(await service.notified('wxps', 'not-a-split', channel.channel_trade_no)).toBe(false);
  expect(queries).toEqual([]);
  const none = setup([]);
  expect(await none.service.notified('wxps', split_id, channel.channel_trade_no)).toBe(false);
  const books_only = setup([{ ...created, channel: undefined } as SplitEvent]);
  expect(await books_only.service.notified('wxps', split_id, channel.channel_trade_no)).toBe(false);
});
