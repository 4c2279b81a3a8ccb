// paycore's process entry: `node dist/workers/main.js`. Reads the configuration and hands it
// to the composition root (workers/root/: gateway.ts builds this main thread, actor-host.ts
// each worker thread); stops cleanly on SIGTERM / SIGINT. The layers and the wiring:
// docs/architecture.md §10.

import { ConfigError, loadConfig, type Config } from '../core/config';
import { createLogger } from '../core/log';
import { initTracing } from '../core/tracing';
import { startPaycore } from './root/gateway';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`paycore: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.log_level, { thread: 'main' });
  const tracing = initTracing('paycore');
  const paycore = await startPaycore(config, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'paycore stopping: draining calls in flight');
    paycore.stop().then(() => tracing.shutdown()).then(
      () => process.exit(0),
      (error: Error) => {
        log.error({ err: error.message }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`paycore: failed to start: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
