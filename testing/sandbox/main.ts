// CLI entry of the sandbox PSP: `node dist/testing/sandbox/main.js`.
// Environment: SANDBOX_HOST (default 127.0.0.1), SANDBOX_PORT (default 8090), SANDBOX_KEYS_DIR
// (default .dev/sandbox-keys; created with fresh dev keys when missing). Logs one JSON line
// per event on stdout, the first one when listening.

import { resolve } from 'node:path';
import { ensureDevKeys, sandboxAlipayOptions, sandboxBankgwOptions, sandboxUnionpayOptions, sandboxWechatpayOptions } from './keys';
import { startSandbox } from './server';

const port_default = 8090;

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return port_default;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`SANDBOX_PORT must be an integer from 0 to 65535, got '${value}'`);
  }
  return port;
}

async function main(): Promise<void> {
  const host = process.env.SANDBOX_HOST || '127.0.0.1';
  const port = parsePort(process.env.SANDBOX_PORT);
  const keys_dir = resolve(process.env.SANDBOX_KEYS_DIR || '.dev/sandbox-keys');
  const keys = ensureDevKeys(keys_dir);
  const log = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const sandbox = await startSandbox({
    host, port, wechatpay: sandboxWechatpayOptions(keys), alipay: sandboxAlipayOptions(keys), unionpay: sandboxUnionpayOptions(keys),
    bankgw: sandboxBankgwOptions(keys), log,
  });
  log({
    time: new Date().toISOString(),
    event: 'sandbox_listening',
    url: sandbox.url,
    port: sandbox.port,
    keys_dir,
    wechatpay_mchid: keys.wechatpay.mchid,
    alipay_app_id: keys.alipay.app_id,
    unionpay_mer_id: keys.unionpay.mer_id,
    bankgw_merchant_no: keys.bankgw.merchant_no,
  });
  const stop = (signal: string) => {
    log({ time: new Date().toISOString(), event: 'sandbox_stopping', signal });
    sandbox.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`${JSON.stringify({ event: 'sandbox_failed', error: error instanceof Error ? error.message : String(error) })}\n`);
  process.exit(1);
});
