// Routing administration: channel changes, and the whole table applied from or exported to
// the declarative file (channels, merchants, apps, risk rules). Every change goes through the
// cache's commit (cache.ts): durable store first, then Redis, then every instance reloads.

import { invalidFields, PaycoreError, type FieldViolation } from '../errors';
import { merchantToJson } from '../merchants/records';
import { riskRuleToJson } from '../risk/rules';
import type { Sealer } from '../seal';
import { appToJson } from './apps';
import type { RoutingCache } from './cache';
import { channelToJson, readChannel, readTable, type ParsedTable } from './config';
import type { ConfigWrites } from './config-store';
import type { ChannelState, RoutingChannel } from './types';

export interface AppliedTable {
  version: string;
  channels: number;
  merchants: number;
  apps?: number;
  risk_rules?: number;
}

export class RoutingAdmin {
  constructor(
    private readonly cache: RoutingCache,
    /** Seals the merchants' notify secrets a file brings. */
    private readonly sealer: Sealer,
  ) {}

  async upsertChannel(channel: RoutingChannel): Promise<RoutingChannel> {
    const violations: FieldViolation[] = [];
    const json = channelToJson(channel);
    const parsed = readChannel(json, 'channel', violations);
    if (parsed === undefined) throw invalidFields(violations);
    const { state, ...definition } = json;
    const k = this.cache.keys.config;
    await this.cache.commit((m) => m.hset(`${k}:channels`, parsed.channel_id, JSON.stringify(definition)).hset(`${k}:states`, parsed.channel_id, String(state)));
    return this.cache.getChannel(parsed.channel_id);
  }

  async setChannelState(channel_id: string, state: ChannelState): Promise<RoutingChannel> {
    const k = this.cache.keys.config;
    const exists = await this.cache.redis.hexists(`${k}:channels`, channel_id);
    if (exists === 0) throw new PaycoreError('NOT_FOUND', `no channel ${channel_id}`);
    await this.cache.commit((m) => m.hset(`${k}:states`, channel_id, state));
    return this.cache.getChannel(channel_id);
  }

  /** The whole table as the declarative file (no secrets: merchants and apps keep theirs on apply). */
  async exportTable(): Promise<{ version: 1; channels: unknown[]; merchants: unknown[]; apps: unknown[]; risk_rules: unknown[] }> {
    await this.cache.reload();
    const current = this.cache.current;
    const by_id = (a: string, b: string) => (a < b ? -1 : 1);
    return {
      version: 1,
      channels: current.channels.map(channelToJson),
      merchants: [...current.merchants.values()].sort((a, b) => by_id(a.merchant_id, b.merchant_id)).map(merchantToJson),
      apps: [...current.apps.values()].map((g) => g.app).sort((a, b) => by_id(a.app_id, b.app_id)).map(appToJson),
      risk_rules: current.risk_rules.map(riskRuleToJson),
    };
  }

  /** Replaces the whole table with the file's content, or refuses it whole (INVALID_FIELD
   * naming every bad entry and field). Merchants and channels absent from the file are
   * removed; merchants without `notify_secret` keep the stored one. When the file lists
   * `apps`, apps absent from it are removed with their keys; listed apps keep their keys; a
   * file without `apps` leaves them as they are. */
  async applyTable(file: unknown): Promise<AppliedTable> {
    const k = this.cache.keys.config;
    const secret_ids = new Set(await this.cache.redis.hkeys(`${k}:secrets`));
    const { table, violations } = readTable(file, (id) => secret_ids.has(id));
    if (table === undefined) throw invalidFields(violations);
    const app_ids = table.apps === undefined ? [] : await this.cache.redis.hkeys(`${k}:apps`);
    await this.cache.commit((m) => this.#writeTable(m, table, secret_ids, app_ids));
    const applied = { version: this.cache.version, channels: table.channels.length, merchants: table.merchants.length };
    return {
      ...applied,
      ...(table.apps === undefined ? {} : { apps: table.apps.length }),
      ...(table.risk_rules === undefined ? {} : { risk_rules: table.risk_rules.length }),
    };
  }

  #writeTable(m: ConfigWrites, table: ParsedTable, secret_ids: ReadonlySet<string>, app_ids: readonly string[]): void {
    const k = this.cache.keys.config;
    m.del(`${k}:channels`, `${k}:states`, `${k}:merchants`);
    for (const channel of table.channels) {
      const { state, ...definition } = channelToJson(channel);
      m.hset(`${k}:channels`, channel.channel_id, JSON.stringify(definition)).hset(`${k}:states`, channel.channel_id, String(state));
    }
    for (const merchant of table.merchants) {
      m.hset(`${k}:merchants`, merchant.merchant_id, JSON.stringify(merchantToJson(merchant)));
      if (merchant.notify_secret !== undefined) m.hset(`${k}:secrets`, merchant.merchant_id, this.sealer.seal(merchant.notify_secret));
    }
    const keep = new Set(table.merchants.map((merchant) => merchant.merchant_id));
    const dropped = [...secret_ids].filter((id) => !keep.has(id));
    if (dropped.length > 0) m.hdel(`${k}:secrets`, ...dropped);
    if (table.apps !== undefined) {
      m.del(`${k}:apps`);
      for (const app of table.apps) m.hset(`${k}:apps`, app.app_id, JSON.stringify(appToJson(app)));
      const listed = new Set(table.apps.map((a) => a.app_id));
      m.hdel(`${k}:app_keys`, ...app_ids.filter((id) => !listed.has(id)));
    }
    if (table.risk_rules !== undefined) {
      m.del(`${k}:risk_rules`);
      for (const rule of table.risk_rules) m.hset(`${k}:risk_rules`, rule.rule_id, JSON.stringify(riskRuleToJson(rule)));
    }
  }
}
