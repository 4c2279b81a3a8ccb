// Prepares a local paycore against the sandbox PSP: dev keys shared by both sides, the
// channel file, and the data key. Idempotent. Prints shell `export` lines for scripts/dev.sh.
//   node dist/core/cli/dev-setup.js <dir> <sandbox_url>

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEV_KEY_FILES, ensureDevKeys } from '../../channels/sandbox/keys';

export function devSetup(dir: string, sandbox_url: string): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys_dir = path.join(dir, 'keys');
  ensureDevKeys(keys_dir);
  const data_key_file = path.join(dir, 'data_key');
  if (!existsSync(data_key_file)) writeFileSync(data_key_file, randomBytes(32).toString('hex'), { mode: 0o600 });
  const key = (name: keyof typeof DEV_KEY_FILES): string => `file:keys/${DEV_KEY_FILES[name]}`;
  const channels = [
    {
      channel_id: 'wxpay_sandbox',
      provider: 'wechatpay',
      products: ['WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5'],
      settings: {
        base_url: sandbox_url,
        mchid: key('mchid'),
        appid: key('appid'),
        merchant_serial_no: key('merchant_serial_no'),
        merchant_private_key_pem: key('merchant_private_key_pem'),
        apiv3_key: key('apiv3_key'),
        platform_public_key_pem: key('platform_public_key_pem'),
        platform_public_key_id: key('platform_public_key_id'),
      },
    },
  ];
  const channels_file = path.join(dir, 'channels.json');
  writeFileSync(channels_file, `${JSON.stringify(channels, null, 2)}\n`, { mode: 0o600 });
  // The routing table: the sandbox channel with its fee and no caps, and two merchants
  // contracted on it (the demo's, and m1 of the README's grpcurl example).
  const routing = {
    version: 1,
    channels: [
      {
        channel_id: 'wxpay_sandbox',
        provider: 'wechatpay',
        state: 'ENABLED',
        products: channels[0]!.products,
        currencies: ['CNY'],
        amount_min_minor: '1',
        amount_max_minor: '100000000',
        service_windows: { time_zone: 'Asia/Shanghai', open: [], closed: [] },
        required_payer_elements: { WECHAT_JSAPI: ['openid'], WECHAT_H5: ['client_ip'] },
        limits: {},
        fee: { rate_bp: 38, fixed_minor: '0', min_minor: '1' },
        priority: 0,
        weight: 1,
      },
    ],
    merchants: ['demo_merchant', 'm1'].map((merchant_id) => ({
      merchant_id,
      products: channels[0]!.products,
      channel_ids: ['wxpay_sandbox'],
      fee_rates: {},
      notify_secret: secretOf(dir, merchant_id),
    })),
  };
  const routing_file = path.join(dir, 'routing.json');
  writeFileSync(routing_file, `${JSON.stringify(routing, null, 2)}\n`, { mode: 0o600 });
  return {
    PAYCORE_CHANNELS_FILE: channels_file,
    PAYCORE_ROUTING_FILE: routing_file,
    PAYCORE_DATA_KEY: readFileSync(data_key_file, 'utf8').trim(),
    SANDBOX_KEYS_DIR: keys_dir,
  };
}

/** A merchant's notify secret for development, created once and kept in the dev folder. */
function secretOf(dir: string, merchant_id: string): string {
  const file = path.join(dir, `notify_secret_${merchant_id}`);
  if (!existsSync(file)) writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

if (require.main === module) {
  const [dir, sandbox_url] = process.argv.slice(2);
  if (dir === undefined || sandbox_url === undefined) {
    process.stderr.write('usage: dev-setup <dir> <sandbox_url>\n');
    process.exit(2);
  }
  for (const [name, value] of Object.entries(devSetup(path.resolve(dir), sandbox_url))) {
    process.stdout.write(`export ${name}='${value}'\n`);
  }
}
