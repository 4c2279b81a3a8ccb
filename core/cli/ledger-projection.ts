// The ledger projection as a process of its own: `node dist/core/cli/ledger-projection.js`.
// paycore runs the same projection inside its main process when PAYCORE_DATABASE_URL is set;
// this runs it alone (a separate deployment of the books, the crash tests). Reads
// PAYCORE_NATS_URL, PAYCORE_PREFIX, PAYCORE_DATABASE_URL, PAYCORE_LEDGER_TIMEZONE and
// PAYCORE_LEDGER_BATCH_MAX (default core/constants.ts ledger_batch_max).

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ledger_batch_max } from '../constants';
import { startProjection } from '../ledger/projection';
import { LedgerStore, migrate } from '../ledger/store';
import { createLogger } from '../log';
import { names as namesOf } from '../names';

async function main(): Promise<void> {
  const log = createLogger(process.env.PAYCORE_LOG_LEVEL ?? 'info', { thread: 'ledger' });
  const database_url = process.env.PAYCORE_DATABASE_URL;
  if (database_url === undefined || database_url === '') throw new Error('PAYCORE_DATABASE_URL is required');
  const prefix = process.env.PAYCORE_PREFIX ?? 'paycore';
  const batch_max = Number(process.env.PAYCORE_LEDGER_BATCH_MAX ?? ledger_batch_max);
  if (!Number.isInteger(batch_max) || batch_max < 1 || batch_max > 10_000) throw new Error('PAYCORE_LEDGER_BATCH_MAX must be a whole number between 1 and 10000');
  await migrate(database_url);
  const nc = await connect({ servers: (process.env.PAYCORE_NATS_URL ?? 'nats://127.0.0.1:4222').split(','), name: 'paycore-ledger', maxReconnectAttempts: -1 });
  const store = new LedgerStore(database_url, process.env.PAYCORE_LEDGER_TIMEZONE ?? 'Asia/Shanghai');
  const projection = await startProjection({ js: jetstream(nc), jsm: await jetstreamManager(nc), names: namesOf(prefix), prefix, store, log, batch_max });
  const stop = (): void => {
    void projection.stop().then(() => store.close()).then(() => nc.drain()).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: Error) => {
  process.stderr.write(`ledger projection: failed to start: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
