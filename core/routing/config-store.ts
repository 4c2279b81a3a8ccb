// The routing configuration's durable home: a JetStream KV bucket (file storage, replicated
// like the event streams). Redis keeps nothing on disk, so the configuration there — the
// hashes `{<prefix>:rt}:<hash>` (channels, states, merchants, secrets, and whatever the table
// adds later) — is a cache that routing rebuilds (config-sync.ts) from this bucket when Redis comes back
// empty. Every write goes here first, then to Redis.
//
// The store is generic over the table's hashes: one KV key per hash field,
// `<hash>.<field in base64url>` (KV keys allow only [-/_=.A-Za-z0-9], field ids allow more),
// the field's value as the entry's value. It knows nothing of what a channel or a merchant
// is, so a new kind of configuration stored as a hash is carried without a change here.

import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { assert, dependencyFailure } from '../errors';

/** One change to the configuration, as routing writes it to Redis (config-sync.ts). */
export type ConfigOp =
  | { op: 'hset'; hash: string; field: string; value: string }
  | { op: 'hdel'; hash: string; fields: string[] }
  /** Removes every field of the hash. */
  | { op: 'del'; hash: string };

/** hash → field → value. */
export type ConfigSnapshot = Map<string, Map<string, string>>;

const hash_pattern = /^[a-z][a-z0-9_]{0,31}$/;
/** Values the snapshot reader takes per pull. */
const snapshot_batch_max = 1_000;
/** How long one KV write may wait for JetStream's ack. */
const kv_write_timeout_ms = 5_000;

export function configBucket(prefix: string): string {
  return `${prefix.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}_CONFIG`;
}

function keyOf(hash: string, field: string): string {
  assert(hash_pattern.test(hash), `config hash name ${hash} is not a plain name`);
  return `${hash}.${Buffer.from(field, 'utf8').toString('base64url')}`;
}

function parseKey(key: string): { hash: string; field: string } | undefined {
  const dot = key.indexOf('.');
  if (dot <= 0) return undefined;
  return { hash: key.slice(0, dot), field: Buffer.from(key.slice(dot + 1), 'base64url').toString('utf8') };
}

export class ConfigStore {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly kv: KV,
    readonly bucket: string,
  ) {}

  /** Opens the prefix's bucket, creating it when missing (idempotent, every process calls it). */
  static async open(js: JetStreamClient, prefix: string, replicas = 1): Promise<ConfigStore> {
    const bucket = configBucket(prefix);
    const kv = await new Kvm(js).create(bucket, { history: 1, storage: 'file', replicas });
    return new ConfigStore(js, kv, bucket);
  }

  /** Every field of every hash, read in one pass over the bucket's last values. */
  async snapshot(): Promise<ConfigSnapshot> {
    const snapshot: ConfigSnapshot = new Map();
    try {
      const consumer = await this.js.consumers.get(`KV_${this.bucket}`, { filter_subjects: `$KV.${this.bucket}.>`, deliver_policy: DeliverPolicy.LastPerSubject });
      const info = await consumer.info(true);
      if (info.num_pending === 0) return snapshot;
      const messages = await consumer.consume({ max_messages: snapshot_batch_max });
      for await (const message of messages) {
        const operation = message.headers?.get('KV-Operation') ?? '';
        const parsed = parseKey(message.subject.slice(`$KV.${this.bucket}.`.length));
        if (parsed !== undefined && operation !== 'DEL' && operation !== 'PURGE') {
          let fields = snapshot.get(parsed.hash);
          if (fields === undefined) snapshot.set(parsed.hash, (fields = new Map()));
          fields.set(parsed.field, message.string());
        }
        if (message.info.pending === 0) break;
      }
      messages.stop();
      return snapshot;
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
  }

  /** Whether the bucket holds any configuration (a deployment that predates the store seeds
   * it from Redis once). */
  async isEmpty(): Promise<boolean> {
    try {
      return (await this.kv.status()).values === 0;
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
  }

  /** Applies the changes, in order. Not atomic across keys: a failure part-way leaves some
   * applied, and the caller's error tells it to retry (every op is idempotent). `del` needs
   * the hash's current fields, read from `current` (a snapshot) or from the bucket. */
  async write(ops: readonly ConfigOp[], current?: ConfigSnapshot): Promise<void> {
    try {
      // A write that clears a hash reads the bucket first; values it holds already are not
      // written again (applying the same file at every boot writes nothing).
      let snapshot = current ?? (ops.some((o) => o.op === 'del') ? await this.snapshot() : undefined);
      for (const op of ops) {
        if (op.op === 'hset' && snapshot?.get(op.hash)?.get(op.field) === op.value) continue;
        if (op.op === 'hset') await this.kv.put(keyOf(op.hash, op.field), op.value, { timeout: kv_write_timeout_ms });
        else if (op.op === 'hdel') for (const field of op.fields) await this.kv.delete(keyOf(op.hash, field));
        else {
          snapshot ??= await this.snapshot();
          // Only what is not set again later in the same write needs deleting.
          const kept = new Set(ops.flatMap((o) => (o.op === 'hset' && o.hash === op.hash ? [o.field] : [])));
          for (const field of snapshot.get(op.hash)?.keys() ?? []) {
            if (!kept.has(field)) await this.kv.delete(keyOf(op.hash, field));
          }
        }
      }
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
  }
}

/** The configuration changes of one write, recorded with the Redis-command shapes the
 * routing table uses (full `{<prefix>:rt}:<hash>` keys), so the table writes them the same way
 * whether they go to the store, to Redis, or both. */
export class ConfigWrites {
  readonly ops: ConfigOp[] = [];

  constructor(private readonly config_key: string) {}

  hset(key: string, field: string, value: string): this {
    this.ops.push({ op: 'hset', hash: this.#hash(key), field, value });
    return this;
  }

  hdel(key: string, ...fields: string[]): this {
    if (fields.length > 0) this.ops.push({ op: 'hdel', hash: this.#hash(key), fields });
    return this;
  }

  del(...keys: string[]): this {
    for (const key of keys) this.ops.push({ op: 'del', hash: this.#hash(key) });
    return this;
  }

  #hash(key: string): string {
    assert(key.startsWith(`${this.config_key}:`), `${key} is not a configuration key`);
    return key.slice(this.config_key.length + 1);
  }
}
