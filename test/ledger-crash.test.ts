// The ledger projection killed with SIGKILL again and again while it posts a stream of
// random payment histories (core/ledger/ledger.fixture.ts), run as a process of its own
// (dist/core/cli/ledger-projection.js): after the last restart every message is in the books
// exactly once, and the books equal what the payments' final states say.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { encodeJson } from '../core/codec';
import { ledgerConsumerName } from '../core/ledger/projection';
import { default_book_settings, postingsOf, type AccountCode } from '../core/ledger/rules';
import { expectedBooks, payment_plan, streamOf } from '../core/ledger/ledger.fixture';
import { LedgerStore } from '../core/ledger/store';
import { names as namesOf } from '../core/names';
import { ensureStreams } from '../core/orders/store';
import { deleteStreams, eventually, nats_url, repo_root, uniquePrefix } from './harness';

const prefix = uniquePrefix();
const names = namesOf(prefix);
let nc: NatsConnection;
let db: TestDatabase;
let store: LedgerStore;
let child: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  nc = await connect({ servers: nats_url });
  await ensureStreams(await jetstreamManager(nc), names, 1);
  db = await createTestDatabase();
  store = new LedgerStore(db.url);
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await store?.close();
  await db?.drop();
  await nc?.close();
  await deleteStreams(prefix);
});

function startProjection(): ChildProcess {
  const process_ = spawn(process.execPath, [path.join(repo_root, 'dist/core/cli/ledger-projection.js')], {
    env: { ...process.env, PAYCORE_PREFIX: prefix, PAYCORE_NATS_URL: nats_url, PAYCORE_DATABASE_URL: db.url, PAYCORE_LEDGER_BATCH_MAX: '5', PAYCORE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process_.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  process_.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child = process_;
  return process_;
}

function kill(process_: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (process_.exitCode !== null || process_.signalCode !== null) return resolve();
    process_.once('exit', () => resolve());
    process_.kill('SIGKILL');
  });
}

const progress = (): Promise<number> => store.progress(ledgerConsumerName(prefix));

async function sumOf(code: AccountCode, owner?: string): Promise<bigint> {
  const result = await store.pool.query<{ sum: bigint }>('SELECT coalesce(sum(balance_minor), 0)::bigint AS sum FROM accounts WHERE code = $1 AND ($2::text IS NULL OR owner = $2)', [code, owner ?? null]);
  return result.rows[0]!.sum;
}

test('ledger crash - SIGKILL mid-stream, three times: nothing posted twice, nothing skipped', async () => {
  const plans = fc.sample(payment_plan, { numRuns: 120, seed: 42 });
  const stream = streamOf(plans, fc.sample(fc.nat(), { numRuns: 200, seed: 7 }));
  const js = jetstream(nc);
  for (const message of stream) {
    const last = message.events[message.events.length - 1]!;
    await js.publish(
      names.events(message.state.payment_id),
      encodeJson(
        message.events.length === 1 ? { event: last, state: message.state } : { event: last, events: message.events, state: message.state },
      ),
    );
  }
  const last_seq = stream.length;

  // Kill each run as soon as it has moved the books forward, while messages still wait.
  const kills: number[] = [];
  for (let round = 0; round < 3; round += 1) {
    const before = await progress();
    const projection = startProjection();
    await eventually(async () => ((await progress()) > before ? true : undefined), 20_000, `round ${round}: the projection moved past ${before}; its stderr: ${output}`);
    await kill(projection);
    kills.push(await progress());
  }
  expect(kills[kills.length - 1]).toBeLessThan(last_seq); // the kills came while work remained
  startProjection();
  await eventually(async () => ((await progress()) === last_seq ? true : undefined), 30_000, 'the books at the end of the stream');

  // Exactly the postings the rules make, each once.
  const expected_keys = stream.flatMap((m) => postingsOf(m.events, m.state, default_book_settings).map((p) => p.entry_key)).sort();
  const keys = await store.pool.query<{ entry_key: string }>('SELECT entry_key FROM journal_entries ORDER BY entry_key');
  expect(keys.rows.map((r) => r.entry_key)).toEqual(expected_keys);
  const finals = new Map(stream.map((m) => [m.state.payment_id, m.state]));
  const expected = expectedBooks([...finals.values()], () => 0n);
  for (const [merchant_id, total] of expected.merchant_total) {
    expect([merchant_id, (await sumOf('merchant_pending', merchant_id)) + (await sumOf('merchant_available', merchant_id))]).toEqual([merchant_id, total]);
  }
  expect(await sumOf('suspense')).toBe(expected.suspense);
  expect(await sumOf('channel_receivable')).toBe(expected.channel_receivable);
  expect(await sumOf('refunds_in_transit')).toBe(expected.refunds_in_transit);
  expect((await store.trialBalance()).balanced).toBe(true);
  // The query side holds every payment at its last version.
  const rows = await store.pool.query<{ n: bigint }>('SELECT count(*) AS n FROM payments');
  expect(rows.rows[0]!.n).toBe(BigInt(finals.size));
});
