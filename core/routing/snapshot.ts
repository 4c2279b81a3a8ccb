// The routing configuration as every process holds it in memory: read from Redis in one MULTI
// and validated (what was stored was validated on the way in: anything else is a bug or a
// hand edit). RoutingCache (cache.ts) swaps one of these in whole on every reload.

import type { RedisClient } from '../connections';
import { assert, type FieldViolation } from '../errors';
import { readMerchant, secretFingerprint, type Merchant } from '../merchants/records';
import { readRiskRule, type RiskRule } from '../risk/rules';
import type { Sealer } from '../seal';
import { readApp, type App, type AppKeyInfo, type StoredAppKey } from './apps';
import { readChannel } from './config';
import type { RoutingChannel } from './types';

/** An app as the authenticator needs it: its grants and its valid key secrets. */
export interface AppGrant {
  app: App;
  keys: AppKeyInfo[];
  /** key_id → secret (opened from their sealed form). */
  secrets: Map<string, string>;
}

export interface ConfigSnapshotInMemory {
  /** The version read with it; null when Redis holds no configuration. */
  version: string | null;
  /** Sorted by channel id. */
  channels: RoutingChannel[];
  by_id: Map<string, RoutingChannel>;
  merchants: Map<string, Merchant>;
  /** merchant_id → fingerprint and last 4 of the notify secret; the secret itself is not cached. */
  secret_hints: Map<string, { fingerprint: string; last4: string }>;
  apps: Map<string, AppGrant>;
  /** The risk rules (core/risk), sorted by rule id. */
  risk_rules: RiskRule[];
}

export const empty_snapshot: ConfigSnapshotInMemory = {
  version: '', channels: [], by_id: new Map(), merchants: new Map(), secret_hints: new Map(), apps: new Map(), risk_rules: [],
};

/** The configuration hashes a load reads; a rebuild clears these and any the store holds. */
export const config_hashes = ['channels', 'states', 'merchants', 'secrets', 'apps', 'app_keys', 'risk_rules'];

type Raw = Record<string, string>;

/** Reads the whole configuration under `config_key` in one MULTI. */
export async function loadSnapshot(redis: RedisClient, config_key: string, sealer: Sealer): Promise<ConfigSnapshotInMemory> {
  const k = config_key;
  const replies = await redis.multi()
    .get(`${k}:version`).hgetall(`${k}:channels`).hgetall(`${k}:states`).hgetall(`${k}:merchants`).hgetall(`${k}:secrets`)
    .hgetall(`${k}:apps`).hgetall(`${k}:app_keys`).hgetall(`${k}:risk_rules`)
    .exec();
  assert(replies !== null, 'routing reload transaction aborted');
  for (const [error] of replies) if (error) throw error;
  const [version, channels_raw, states, merchants_raw, secrets, apps_raw, app_keys_raw, risk_raw] = replies.map(([, v]) => v) as [
    string | null,
    Raw,
    Raw,
    Raw,
    Raw,
    Raw,
    Raw,
    Raw,
  ];
  const violations: FieldViolation[] = [];
  const channels = readChannels(channels_raw, states, violations);
  const merchants = readEach(merchants_raw, (json, id) => readMerchant(json, `stored merchant ${id}`, violations));
  const risk_rules = [...readEach(risk_raw, (json, id) => readRiskRule(json, `stored risk rule ${id}`, violations)).values()];
  risk_rules.sort((a, b) => (a.rule_id < b.rule_id ? -1 : 1));
  assert(violations.length === 0, `routing table in Redis is invalid: ${describe(violations)}`);
  const secret_hints = new Map<string, { fingerprint: string; last4: string }>();
  for (const [id, sealed] of Object.entries(secrets)) {
    const secret = sealer.open<string>(sealed);
    secret_hints.set(id, { fingerprint: secretFingerprint(secret), last4: secret.slice(-4) });
  }
  const apps = readApps(apps_raw, app_keys_raw, sealer);
  return { version, channels, by_id: new Map(channels.map((c) => [c.channel_id, c])), merchants, secret_hints, apps, risk_rules };
}

function readChannels(channels_raw: Raw, states: Raw, violations: FieldViolation[]): RoutingChannel[] {
  const channels: RoutingChannel[] = [];
  for (const [id, text] of Object.entries(channels_raw)) {
    const json = JSON.parse(text) as Record<string, unknown>;
    json.state = states[id] ?? 'ENABLED';
    const channel = readChannel(json, `stored channel ${id}`, violations);
    if (channel !== undefined) channels.push(channel);
  }
  return channels.sort((a, b) => (a.channel_id < b.channel_id ? -1 : 1));
}

function readEach<T>(raw: Raw, read: (json: unknown, id: string) => T | undefined): Map<string, T> {
  const read_all = new Map<string, T>();
  for (const [id, text] of Object.entries(raw)) {
    const value = read(JSON.parse(text), id);
    if (value !== undefined) read_all.set(id, value);
  }
  return read_all;
}

function readApps(apps_raw: Raw, app_keys_raw: Raw, sealer: Sealer): Map<string, AppGrant> {
  const violations: FieldViolation[] = [];
  const apps = new Map<string, AppGrant>();
  for (const [id, text] of Object.entries(apps_raw)) {
    const app = readApp(JSON.parse(text), `stored app ${id}`, violations);
    if (app === undefined) continue;
    const stored = JSON.parse(app_keys_raw[id] ?? '[]') as StoredAppKey[];
    const secrets = new Map<string, string>();
    for (const key of stored) secrets.set(key.key_id, sealer.open<string>(key.sealed));
    apps.set(id, { app, keys: stored.map(({ sealed: _sealed, ...info }) => info), secrets });
  }
  assert(violations.length === 0, `apps in Redis are invalid: ${describe(violations)}`);
  return apps;
}

function describe(violations: readonly FieldViolation[]): string {
  return violations.map((v) => `${v.field} ${v.description}`).join('; ');
}
