// Development keys shared by the sandbox PSP and paycore's channel configuration: one
// directory, one file per value (mode 0600), created on first use and read afterwards, so
// both sides of a local setup sign and verify with matching keys.

import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long ensureDevKeys waits for another process that is creating the same directory. */
const lock_wait_ms_max = 15_000;
/** A lock older than this was left by a crashed process. */
const lock_stale_ms = 30_000;
const lock_poll_ms = 25;

export const DEV_KEY_FILES = {
  platform_private_key_pem: 'wechatpay_platform_private.pem',
  platform_public_key_pem: 'wechatpay_platform_public.pem',
  platform_public_key_id: 'wechatpay_platform_key_id',
  merchant_public_key_pem: 'wechatpay_merchant_public.pem',
  merchant_private_key_pem: 'wechatpay_merchant_private.pem',
  merchant_serial_no: 'wechatpay_merchant_serial_no',
  apiv3_key: 'wechatpay_apiv3_key',
  mchid: 'wechatpay_mchid',
  appid: 'wechatpay_appid',
  /** API v2 key (32 chars): signs the v2 `pay/micropay` payment-code calls. */
  api_v2_key: 'wechatpay_api_v2_key',
} as const;

/** Alipay: the app's key pair, the platform ("Alipay public key") pair, app_id and the seller PID. */
export const ALIPAY_DEV_KEY_FILES = {
  app_private_key_pem: 'alipay_app_private.pem',
  app_public_key_pem: 'alipay_app_public.pem',
  alipay_private_key_pem: 'alipay_platform_private.pem',
  alipay_public_key_pem: 'alipay_platform_public.pem',
  app_id: 'alipay_app_id',
  seller_id: 'alipay_seller_id',
} as const;

/**
 * UnionPay: the merchant's signing pair and its certId, UnionPay's signing ("verification")
 * pair and its certId, the 15-character merId and the 11-digit token requester id.
 */
export const UNIONPAY_DEV_KEY_FILES = {
  sign_private_key_pem: 'unionpay_merchant_sign_private.pem',
  sign_public_key_pem: 'unionpay_merchant_sign_public.pem',
  sign_cert_id: 'unionpay_merchant_sign_cert_id',
  verify_private_key_pem: 'unionpay_platform_private.pem',
  verify_public_key_pem: 'unionpay_platform_public.pem',
  verify_cert_id: 'unionpay_platform_cert_id',
  mer_id: 'unionpay_mer_id',
  tr_id: 'unionpay_tr_id',
} as const;

/** The bank gateway: merchant number and the shared HMAC-SHA256 key (64 chars). */
export const BANKGW_DEV_KEY_FILES = {
  merchant_no: 'bankgw_merchant_no',
  hmac_key: 'bankgw_hmac_key',
} as const;

export type WechatpayDevKeys = { -readonly [K in keyof typeof DEV_KEY_FILES]: string };
export type AlipayDevKeys = { -readonly [K in keyof typeof ALIPAY_DEV_KEY_FILES]: string };
export type UnionpayDevKeys = { -readonly [K in keyof typeof UNIONPAY_DEV_KEY_FILES]: string };
export type BankgwDevKeys = { -readonly [K in keyof typeof BANKGW_DEV_KEY_FILES]: string };

export interface DevKeys {
  dir: string;
  wechatpay: WechatpayDevKeys;
  alipay: AlipayDevKeys;
  unionpay: UnionpayDevKeys;
  bankgw: BankgwDevKeys;
}

/** The banks the dev bank-gateway channel serves. */
export const bankgw_dev_bank_codes = ['ICBC', 'CCB', 'CMB'] as const;

/** Creates the missing key files in `dir` (keeping existing ones) and returns all values. */
export function ensureDevKeys(dir: string): DevKeys {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!allPresent(dir)) withLock(dir, () => createMissing(dir));
  const wechatpay = {} as WechatpayDevKeys;
  for (const [name, file] of Object.entries(DEV_KEY_FILES) as [keyof WechatpayDevKeys, string][]) {
    wechatpay[name] = readFileSync(join(dir, file), 'utf8').trim();
  }
  const alipay = {} as AlipayDevKeys;
  for (const [name, file] of Object.entries(ALIPAY_DEV_KEY_FILES) as [keyof AlipayDevKeys, string][]) {
    alipay[name] = readFileSync(join(dir, file), 'utf8').trim();
  }
  return { dir, wechatpay, alipay, unionpay: readSet(dir, UNIONPAY_DEV_KEY_FILES), bankgw: readSet(dir, BANKGW_DEV_KEY_FILES) };
}

function readSet<T extends Record<string, string>>(dir: string, files: T): { -readonly [K in keyof T]: string } {
  const out = {} as { -readonly [K in keyof T]: string };
  for (const [name, file] of Object.entries(files) as [keyof T, string][]) out[name] = readFileSync(join(dir, file), 'utf8').trim();
  return out;
}

/** config.settings for a `unionpay` channel talking to a sandbox at base_url. */
export function unionpayChannelSettings(keys: DevKeys, base_url: string, timeout_ms?: number): Record<string, string> {
  const k = keys.unionpay;
  const settings: Record<string, string> = {
    base_url: base_url.replace(/\/$/, ''),
    mer_id: k.mer_id,
    tr_id: k.tr_id,
    sign_cert_id: k.sign_cert_id,
    sign_private_key_pem: k.sign_private_key_pem,
    verify_cert_id: k.verify_cert_id,
    verify_public_key_pem: k.verify_public_key_pem,
    file_transfer_url: `${base_url.replace(/\/$/, '')}/unionpay/filedownload/`,
  };
  if (timeout_ms !== undefined) settings.timeout_ms = String(timeout_ms);
  return settings;
}

/** config.settings for a `bankgw` channel talking to a sandbox at base_url. */
export function bankgwChannelSettings(keys: DevKeys, base_url: string, timeout_ms?: number): Record<string, string> {
  const k = keys.bankgw;
  const settings: Record<string, string> = {
    gateway_url: base_url.replace(/\/$/, ''),
    merchant_no: k.merchant_no,
    hmac_key: k.hmac_key,
    bank_codes: bankgw_dev_bank_codes.join(','),
  };
  if (timeout_ms !== undefined) settings.timeout_ms = String(timeout_ms);
  return settings;
}

/** The `unionpay` part of SandboxOptions for these keys (one merchant). */
export function sandboxUnionpayOptions(keys: DevKeys) {
  const k = keys.unionpay;
  return {
    verify_private_key_pem: k.verify_private_key_pem,
    verify_cert_id: k.verify_cert_id,
    merchants: [{ mer_id: k.mer_id, tr_id: k.tr_id, sign_cert_id: k.sign_cert_id, sign_public_key_pem: k.sign_public_key_pem }],
  };
}

/** The `bankgw` part of SandboxOptions for these keys (one merchant). */
export function sandboxBankgwOptions(keys: DevKeys) {
  const k = keys.bankgw;
  return { merchants: [{ merchant_no: k.merchant_no, hmac_key: k.hmac_key, bank_codes: [...bankgw_dev_bank_codes] }] };
}

/** config.settings for a `wechatpay` channel talking to a sandbox at base_url. */
export function wechatpayChannelSettings(keys: DevKeys, base_url: string, timeout_ms?: number): Record<string, string> {
  const k = keys.wechatpay;
  const settings: Record<string, string> = {
    base_url,
    mchid: k.mchid,
    appid: k.appid,
    merchant_serial_no: k.merchant_serial_no,
    merchant_private_key_pem: k.merchant_private_key_pem,
    apiv3_key: k.apiv3_key,
    platform_public_key_pem: k.platform_public_key_pem,
    platform_public_key_id: k.platform_public_key_id,
    api_v2_key: k.api_v2_key,
  };
  if (timeout_ms !== undefined) settings.timeout_ms = String(timeout_ms);
  return settings;
}

/** config.settings for an `alipay` channel talking to a sandbox at base_url (its /gateway.do). */
export function alipayChannelSettings(keys: DevKeys, base_url: string, timeout_ms?: number): Record<string, string> {
  const k = keys.alipay;
  const settings: Record<string, string> = {
    gateway_url: `${base_url.replace(/\/$/, '')}/gateway.do`,
    app_id: k.app_id,
    app_private_key_pem: k.app_private_key_pem,
    alipay_public_key_pem: k.alipay_public_key_pem,
    seller_id: k.seller_id,
  };
  if (timeout_ms !== undefined) settings.timeout_ms = String(timeout_ms);
  return settings;
}

/** The `alipay` part of SandboxOptions for these keys (one app). */
export function sandboxAlipayOptions(keys: DevKeys) {
  const k = keys.alipay;
  return {
    alipay_private_key_pem: k.alipay_private_key_pem,
    apps: [{ app_id: k.app_id, app_public_key_pem: k.app_public_key_pem, seller_id: k.seller_id }],
  };
}

/** The `wechatpay` part of SandboxOptions for these keys (one merchant). */
export function sandboxWechatpayOptions(keys: DevKeys) {
  const k = keys.wechatpay;
  return {
    platform_private_key_pem: k.platform_private_key_pem,
    platform_public_key_id: k.platform_public_key_id,
    merchants: [{
      mchid: k.mchid,
      appid: k.appid,
      merchant_serial_no: k.merchant_serial_no,
      merchant_public_key_pem: k.merchant_public_key_pem,
      apiv3_key: k.apiv3_key,
      api_v2_key: k.api_v2_key,
    }],
  };
}

function allPresent(dir: string): boolean {
  return [
    ...Object.values(DEV_KEY_FILES), ...Object.values(ALIPAY_DEV_KEY_FILES), ...Object.values(UNIONPAY_DEV_KEY_FILES), ...Object.values(BANKGW_DEV_KEY_FILES),
  ].every((file) => existsSync(join(dir, file)));
}

function createMissing(dir: string): void {
  const present = (file: string) => existsSync(join(dir, file));
  const write = (file: string, value: string) => writeFileSync(join(dir, file), `${value}\n`, { mode: 0o600, flag: 'w' });
  const f = DEV_KEY_FILES;
  // A key pair is replaced as a whole: half of an old pair is useless.
  if (!present(f.platform_private_key_pem) || !present(f.platform_public_key_pem)) {
    const pair = rsaPair();
    write(f.platform_private_key_pem, pair.private_pem);
    write(f.platform_public_key_pem, pair.public_pem);
  }
  if (!present(f.merchant_private_key_pem) || !present(f.merchant_public_key_pem)) {
    const pair = rsaPair();
    write(f.merchant_private_key_pem, pair.private_pem);
    write(f.merchant_public_key_pem, pair.public_pem);
  }
  if (!present(f.platform_public_key_id)) write(f.platform_public_key_id, `PUB_KEY_ID_01${digits(30)}`);
  if (!present(f.merchant_serial_no)) write(f.merchant_serial_no, randomBytes(20).toString('hex').toUpperCase());
  if (!present(f.apiv3_key)) write(f.apiv3_key, alphanumeric(32));
  if (!present(f.mchid)) write(f.mchid, `19${digits(8)}`);
  if (!present(f.appid)) write(f.appid, `wx${randomBytes(8).toString('hex')}`);
  if (!present(f.api_v2_key)) write(f.api_v2_key, alphanumeric(32));
  const a = ALIPAY_DEV_KEY_FILES;
  if (!present(a.app_private_key_pem) || !present(a.app_public_key_pem)) {
    const pair = rsaPair();
    write(a.app_private_key_pem, pair.private_pem);
    write(a.app_public_key_pem, pair.public_pem);
  }
  if (!present(a.alipay_private_key_pem) || !present(a.alipay_public_key_pem)) {
    const pair = rsaPair();
    write(a.alipay_private_key_pem, pair.private_pem);
    write(a.alipay_public_key_pem, pair.public_pem);
  }
  if (!present(a.app_id)) write(a.app_id, `2021${digits(12)}`);
  if (!present(a.seller_id)) write(a.seller_id, `2088${digits(12)}`);
  const u = UNIONPAY_DEV_KEY_FILES;
  if (!present(u.sign_private_key_pem) || !present(u.sign_public_key_pem)) {
    const pair = rsaPair();
    write(u.sign_private_key_pem, pair.private_pem);
    write(u.sign_public_key_pem, pair.public_pem);
  }
  if (!present(u.verify_private_key_pem) || !present(u.verify_public_key_pem)) {
    const pair = rsaPair();
    write(u.verify_private_key_pem, pair.private_pem);
    write(u.verify_public_key_pem, pair.public_pem);
  }
  if (!present(u.sign_cert_id)) write(u.sign_cert_id, `6${digits(10)}`);
  if (!present(u.verify_cert_id)) write(u.verify_cert_id, `7${digits(10)}`);
  if (!present(u.mer_id)) write(u.mer_id, `777${digits(12)}`);
  if (!present(u.tr_id)) write(u.tr_id, `620${digits(8)}`);
  const b = BANKGW_DEV_KEY_FILES;
  if (!present(b.merchant_no)) write(b.merchant_no, `BG${digits(10)}`);
  if (!present(b.hmac_key)) write(b.hmac_key, alphanumeric(64));
}

function rsaPair(): { private_pem: string; public_pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { private_pem: privateKey.trim(), public_pem: publicKey.trim() };
}

function digits(count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += String(randomInt(10));
  return out;
}

function alphanumeric(count: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < count; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** A lock file, so two test workers creating the same directory do not mix two key sets. */
function withLock(dir: string, body: () => void): void {
  const lock = join(dir, '.ensure-dev-keys.lock');
  const deadline = Date.now() + lock_wait_ms_max;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (isStale(lock)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`ensureDevKeys: ${lock} held for more than ${lock_wait_ms_max} ms`, { cause: error });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, lock_poll_ms);
    }
  }
  try {
    if (!allPresent(dir)) body();
  } finally {
    rmSync(lock, { force: true });
  }
}

function isStale(lock: string): boolean {
  try {
    return Date.now() - statSync(lock).mtimeMs > lock_stale_ms;
  } catch {
    return false;
  }
}
