// Prepares a local paycore against the sandbox PSP: dev keys shared by both sides, the
// channel file (one sandbox channel per provider), the routing table with the demo app, the
// data key, the id key, and a development CA with the gateway's and the demo app's certificates.
// Idempotent. Prints shell `export` lines for scripts/dev.sh.
//   node dist/testing/dev/dev-setup.js <dir> <sandbox_url>

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProductName } from '../../channels/channel';
import { alipayChannelSettings, bankgwChannelSettings, ensureDevKeys, unionpayChannelSettings, wechatpayChannelSettings } from '../sandbox/keys';
import { app_roles } from '../../core/routing/apps';
import { ensureDevPki } from './dev-certs';

interface DevChannel {
  channel_id: string;
  provider: string;
  products: ProductName[];
  settings: Record<string, string>;
}

/** The payer elements a product cannot be paid without (routing's eligibility). */
const payer_elements_required: Partial<Record<ProductName, string[]>> = {
  WECHAT_JSAPI: ['openid'], WECHAT_H5: ['client_ip'], BARCODE: ['auth_code'], UNIONPAY_QUICK: ['card_token'], BANK_B2C: ['bank_code'], BANK_B2B: ['bank_code'],
};

/** Merchants contracted on every sandbox channel: the demo's, and m1 of the README. */
const dev_merchants = ['demo_merchant', 'm1'];

/** The app the demo and the CLI call as: every role (admin roles are platform-wide, so it
 * acts for every merchant). Its client certificate is .dev/tls/apps/demo.pem. */
const dev_app = 'demo';

export function devSetup(dir: string, sandbox_url: string): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = ensureDevKeys(path.join(dir, 'keys'));
  const pki = ensureDevPki(path.join(dir, 'tls'), [dev_app]);
  const data_key_file = path.join(dir, 'data_key');
  if (!existsSync(data_key_file)) writeFileSync(data_key_file, randomBytes(32).toString('hex'), { mode: 0o600 });
  const id_key_file = path.join(dir, 'id_key');
  if (!existsSync(id_key_file)) writeFileSync(id_key_file, randomBytes(32).toString('hex'), { mode: 0o600 });
  const channels: DevChannel[] = [
    { channel_id: 'wxpay_sandbox', provider: 'wechatpay', products: ['WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5', 'BARCODE'], settings: wechatpayChannelSettings(keys, sandbox_url) },
    { channel_id: 'alipay_sandbox', provider: 'alipay', products: ['ALIPAY_QR', 'ALIPAY_APP', 'ALIPAY_WAP', 'ALIPAY_PC', 'BARCODE'], settings: alipayChannelSettings(keys, sandbox_url) },
    { channel_id: 'unionpay_sandbox', provider: 'unionpay', products: ['UNIONPAY_QUICK'], settings: unionpayChannelSettings(keys, sandbox_url) },
    { channel_id: 'bank_sandbox', provider: 'bankgw', products: ['BANK_B2C', 'BANK_B2B'], settings: bankgwChannelSettings(keys, sandbox_url) },
  ];
  const channels_file = path.join(dir, 'channels.json');
  writeFileSync(channels_file, `${JSON.stringify(channels, null, 2)}\n`, { mode: 0o600 });

  const routing = {
    version: 1,
    channels: channels.map((c) => ({
      channel_id: c.channel_id,
      provider: c.provider,
      state: 'ENABLED',
      products: c.products,
      currencies: ['CNY'],
      amount_min_minor: '1',
      amount_max_minor: '100000000',
      service_windows: { time_zone: 'Asia/Shanghai', open: [], closed: [] },
      required_payer_elements: Object.fromEntries(
        c.products.flatMap((p) => (payer_elements_required[p] === undefined ? [] : [[p, payer_elements_required[p]]])),
      ),
      limits: {},
      fee: { rate_bp: 38, fixed_minor: '0', min_minor: '1' },
      priority: 0,
      weight: 1,
    })),
    merchants: dev_merchants.map((merchant_id) => ({
      merchant_id,
      products: [...new Set(channels.flatMap((c) => c.products))],
      channel_ids: channels.map((c) => c.channel_id),
      fee_rates: {},
      notify_secret: secretOf(dir, merchant_id),
    })),
    apps: [{ app_id: dev_app, merchants: '*', roles: [...app_roles] }],
  };
  const routing_file = path.join(dir, 'routing.json');
  writeFileSync(routing_file, `${JSON.stringify(routing, null, 2)}\n`, { mode: 0o600 });
  return {
    PAYCORE_CHANNELS_FILE: channels_file,
    PAYCORE_ROUTING_FILE: routing_file,
    PAYCORE_DATA_KEY: readFileSync(data_key_file, 'utf8').trim(),
    PAYCORE_ID_KEY: readFileSync(id_key_file, 'utf8').trim(),
    PAYCORE_GRPC_TLS_CERT: pki.server_cert_file,
    PAYCORE_GRPC_TLS_KEY: pki.server_key_file,
    PAYCORE_GRPC_CLIENT_CA: pki.ca_file,
    SANDBOX_KEYS_DIR: keys.dir,
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
