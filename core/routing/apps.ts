// Apps (应用): the internal services allowed to call paycore, the merchants each may act for
// and its roles. They live with merchants in the routing table's store (same hash slot, same
// version, same declarative file) so that both move together. An app's key secrets are sealed
// (core/seal.ts) before they are stored; answers carry only a fingerprint and the last 4.

import { randomBytes } from 'node:crypto';
import type { FieldViolation } from '../errors';
import { id_pattern, secretFingerprint } from './reader';
import { app_key_secret_bytes, apps_max, merchants_per_app_max } from './constants';

export const app_roles = [
  'payments:write', 'payments:read', 'refunds:write', 'admin:routing', 'admin:merchants', 'admin:apps', 'admin:notifications', 'admin:timers', 'admin:risk',
  'ledger:read', 'ledger:write', 'payouts:read', 'payouts:write', 'admin:payouts',
  'splits:read', 'splits:write',
] as const;
export type AppRole = (typeof app_roles)[number];

/** The merchant list of a platform app: every merchant, present and future. */
export const all_merchants = '*';

export interface App {
  app_id: string;
  /** Sorted merchant ids, or `'*'` for a platform app. */
  merchants: string[] | typeof all_merchants;
  roles: AppRole[];
}

type AppKeyState = 'CURRENT' | 'PREVIOUS';

/** A key's description: what answers and the cache hold. */
export interface AppKeyInfo {
  key_id: string;
  state: AppKeyState;
  fingerprint: string;
  last4: string;
  created_at_ms: number;
}

/** As stored in Redis: the secret sealed with PAYCORE_DATA_KEY. */
export interface StoredAppKey extends AppKeyInfo {
  sealed: string;
}

export interface AppView extends App {
  keys: AppKeyInfo[];
}

const app_fields = ['app_id', 'merchants', 'roles'];

/** An app from its JSON form, or undefined with violations under `field`. */
export function readApp(value: unknown, field: string, violations: FieldViolation[]): App | undefined {
  const before = violations.length;
  const p = (name: string) => (field === '' ? name : `${field}.${name}`);
  const bad = (f: string, description: string): undefined => {
    violations.push({ field: f, description });
    return undefined;
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad(field, 'must be an object');
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!app_fields.includes(key)) bad(p(key), 'is not a known field');
  const app_id = typeof o.app_id === 'string' && id_pattern.test(o.app_id) ? o.app_id : bad(p('app_id'), "must be 1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'");
  let merchants: App['merchants'] | undefined;
  if (o.merchants === all_merchants) merchants = all_merchants;
  else if (!Array.isArray(o.merchants)) bad(p('merchants'), `must be a list of merchant ids or '${all_merchants}' (every merchant)`);
  else if (o.merchants.length > merchants_per_app_max) bad(p('merchants'), `must have at most ${merchants_per_app_max} entries`);
  else {
    const list = o.merchants as unknown[];
    list.forEach((m, i) => {
      if (typeof m !== 'string' || !id_pattern.test(m)) bad(`${p('merchants')}[${i}]`, 'must be a merchant id');
      else if (list.indexOf(m) !== i) bad(`${p('merchants')}[${i}]`, 'is listed twice');
    });
    merchants = [...(list as string[])].sort();
  }
  const roles: AppRole[] = [];
  if (!Array.isArray(o.roles)) bad(p('roles'), 'must be a list of roles');
  else (o.roles as unknown[]).forEach((r, i) => {
    if (!app_roles.includes(r as AppRole)) bad(`${p('roles')}[${i}]`, `must be one of ${app_roles.join(', ')}`);
    else if (roles.includes(r as AppRole)) bad(`${p('roles')}[${i}]`, 'is listed twice');
    else roles.push(r as AppRole);
  });
  // Administration is platform-wide (routing, every merchant's secrets, every dead letter):
  // an app limited to some merchants must not hold it.
  if (merchants !== undefined && merchants !== all_merchants && roles.some((r) => r.startsWith('admin:'))) {
    bad(p('roles'), `admin roles need merchants '${all_merchants}'`);
  }
  if (violations.length > before) return undefined;
  return { app_id: app_id!, merchants: merchants!, roles: roles.sort() };
}

export function appToJson(app: App): Record<string, unknown> {
  return { app_id: app.app_id, merchants: app.merchants === all_merchants ? all_merchants : [...app.merchants], roles: [...app.roles] };
}

/** The apps of a declarative file, checked whole (ids unique, at most apps_max). */
export function readApps(value: unknown, violations: FieldViolation[]): App[] | undefined {
  if (!Array.isArray(value)) {
    violations.push({ field: 'apps', description: 'must be an array' });
    return undefined;
  }
  if (value.length > apps_max) {
    violations.push({ field: 'apps', description: `must have at most ${apps_max} entries` });
    return undefined;
  }
  const apps: App[] = [];
  const seen = new Map<string, number>();
  value.forEach((entry: unknown, i: number) => {
    const app = readApp(entry, `apps[${i}]`, violations);
    if (app === undefined) return;
    if (seen.has(app.app_id)) violations.push({ field: `apps[${i}].app_id`, description: `repeats apps[${seen.get(app.app_id)}]` });
    seen.set(app.app_id, i);
    apps.push(app);
  });
  return apps;
}

/** A new key: its id and 256-bit secret (base64url, 43 characters). */
export function newAppKey(now_ms: number): { info: AppKeyInfo; secret: string } {
  const secret = randomBytes(app_key_secret_bytes).toString('base64url');
  const key_id = `k${now_ms.toString(36)}${randomBytes(3).toString('hex')}`;
  return { info: { key_id, state: 'CURRENT', fingerprint: secretFingerprint(secret), last4: secret.slice(-4), created_at_ms: now_ms }, secret };
}

export function mayActFor(app: App, merchant_id: string): boolean {
  return app.merchants === all_merchants || app.merchants.includes(merchant_id);
}
