// The app registry (apps.ts): calling services, their grants and their keys, kept with the
// routing configuration (cache.ts) and read by the authenticator from the cache.

import { randomBytes } from 'node:crypto';
import { invalidFields, PaycoreError, type FieldViolation } from '../errors';
import type { Sealer } from '../seal';
import { appToJson, newAppKey, readApp, type App, type AppView, type StoredAppKey } from './apps';
import type { RoutingCache } from './cache';
import type { AppGrant } from './snapshot';

/** How long one app's key change may hold its lock (a crashed holder's lock expires). */
const app_key_lock_ms = 10_000;

export class AppRegistry {
  constructor(
    private readonly cache: RoutingCache,
    /** Seals the key secrets: Redis and the store only ever hold them sealed. */
    private readonly sealer: Sealer,
    private readonly clock: () => Date,
  ) {}

  /** Creates or replaces an app's merchants and roles; its keys stay. */
  async upsertApp(input: App): Promise<AppView> {
    const violations: FieldViolation[] = [];
    const app = readApp(appToJson(input), 'app', violations);
    if (app === undefined) throw invalidFields(violations);
    await this.cache.commit((m) => m.hset(`${this.cache.keys.config}:apps`, app.app_id, JSON.stringify(appToJson(app))));
    return this.getApp(app.app_id);
  }

  getApp(app_id: string): AppView {
    const grant = this.cache.current.apps.get(app_id);
    if (grant === undefined) throw new PaycoreError('NOT_FOUND', `no app ${app_id}`);
    return { ...grant.app, keys: grant.keys };
  }

  listApps(): AppView[] {
    return [...this.cache.current.apps.values()].map((g) => ({ ...g.app, keys: g.keys })).sort((a, b) => (a.app_id < b.app_id ? -1 : 1));
  }

  async deleteApp(app_id: string): Promise<void> {
    const k = this.cache.keys.config;
    if ((await this.cache.redis.hexists(`${k}:apps`, app_id)) === 0) throw new PaycoreError('NOT_FOUND', `no app ${app_id}`);
    await this.cache.commit((m) => m.hdel(`${k}:apps`, app_id).hdel(`${k}:app_keys`, app_id));
  }

  /** The app's grants and key secrets, from the cache (the authenticator's hot path). */
  appGrant(app_id: string): AppGrant | undefined {
    return this.cache.current.apps.get(app_id);
  }

  /** A new current key; the current one becomes previous. Refused while a previous key is
   * still valid: retiring it is the operator's decision, never a side effect. */
  async rotateAppKey(app_id: string, now_ms = this.clock().getTime()): Promise<{ app: AppView; key_id: string; secret: string }> {
    const sealer = this.sealer;
    const { info, secret } = newAppKey(now_ms);
    await this.#changeKeys(app_id, (keys) => {
      if (keys.some((key) => key.state === 'PREVIOUS')) {
        throw new PaycoreError('ILLEGAL_STATE', `app ${app_id} still has a previous key: retire it first (RetireAppKey)`);
      }
      return [{ ...info, sealed: sealer.seal(secret) }, ...keys.map((key) => ({ ...key, state: 'PREVIOUS' as const }))];
    });
    return { app: this.getApp(app_id), key_id: info.key_id, secret };
  }

  /** Ends the previous key's validity. */
  async retireAppKey(app_id: string): Promise<AppView> {
    await this.#changeKeys(app_id, (keys) => {
      if (!keys.some((key) => key.state === 'PREVIOUS')) throw new PaycoreError('ILLEGAL_STATE', `app ${app_id} has no previous key`);
      return keys.filter((key) => key.state === 'CURRENT');
    });
    return this.getApp(app_id);
  }

  /** Read-modify-write of an app's keys under a short Redis lock, so two changes at once (two
   * admins, two gateways) cannot both win with one new secret silently lost: the second is
   * refused and retries. The write itself goes through the store like any configuration. */
  async #changeKeys(app_id: string, change: (keys: StoredAppKey[]) => StoredAppKey[]): Promise<void> {
    const redis = this.cache.redis;
    const k = this.cache.keys.config;
    const lock = `${k}:lock:app_keys:${app_id}`;
    const token = randomBytes(8).toString('hex');
    if ((await redis.set(lock, token, 'PX', app_key_lock_ms, 'NX')) !== 'OK') {
      throw new PaycoreError('ILLEGAL_STATE', `app ${app_id}'s keys are being changed by another call: retry`);
    }
    try {
      const [exists, raw] = await Promise.all([redis.hexists(`${k}:apps`, app_id), redis.hget(`${k}:app_keys`, app_id)]);
      if (exists === 0) throw new PaycoreError('NOT_FOUND', `no app ${app_id}`);
      const next = change(raw === null ? [] : (JSON.parse(raw) as StoredAppKey[]));
      await this.cache.commit((m) => m.hset(`${k}:app_keys`, app_id, JSON.stringify(next)));
    } finally {
      if ((await redis.get(lock)) === token) await redis.del(lock);
    }
  }
}
