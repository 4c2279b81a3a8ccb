// Shard ownership by leases (docs/architecture.md §3 and §7): one process at a time holds a
// shard, and only the holder serves its commands, so no other process's cached actor answers
// for it. The leases are keys of a NATS KV bucket `<PREFIX>_SHARD_LEASES` whose max age is the
// lease's time to live (nats-server 2.9 has no per-key TTL): `s.<shard>` names its holder,
// `m.<member>` says a process is alive. A shard is claimed with `create` (fails while another
// holds it), renewed with `update` naming the revision last written (fails if it changed hands),
// released with a `delete` naming it. A lease not renewed disappears `ttl_ms` after its last
// write, and another process claims it.
//
// Fencing: a lease is ours from the moment we SENT its last successful claim or renewal, so it
// cannot expire on the server before `sent + ttl_ms`. The holder serves the shard only until
// `sent + ttl_ms - margin` by this process's monotonic clock (`until_ns`, process.hrtime, the
// same clock on every thread of the process): a holder that cannot renew stops before any
// other process can claim.
//
// Fair share: each process aims at ceil(shards / live members); one above it releases the
// surplus gracefully (stops taking new commands for the shard, lets those in hand finish,
// deletes the lease); one below claims free shards, at once when it sees a lease deleted (a
// watch on the bucket), else at its next round (an expired lease makes no event).

import { randomBytes } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { KvWatchInclude, Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import type { Logger } from '../core/log';

export interface ShardLease {
  shard: number;
  /** The process's monotonic clock (process.hrtime.bigint) past which the shard is not served. */
  until_ns: bigint;
  /** Changes at each claim: an actor cached under another epoch is reloaded. */
  epoch: number;
  /** false while the shard is being released: commands in hand finish, no new one is taken. */
  accepting: boolean;
}

export type LeaseEvent = 'claimed' | 'released' | 'lost';

export interface LeaseOptions {
  js: JetStreamClient;
  prefix: string;
  shards: number;
  ttl_ms: number;
  replicas: number;
  log: Logger;
  /** The set of held shards changed (claimed, draining, released, lost, renewed). */
  onChange(): void;
  /** Stops taking new commands for the shard; resolves once those in hand are answered. */
  drain(shard: number): Promise<void>;
  onEvent?(event: LeaseEvent, shard: number): void;
}

interface Held {
  revision: number;
  until_ns: bigint;
  epoch: number;
  accepting: boolean;
  renewing: Promise<void> | undefined;
}

function leasesBucket(prefix: string): string {
  return `${prefix.toUpperCase()}_SHARD_LEASES`;
}

const ms_ns = 1_000_000n;

/** The renewal period and the fencing margin of a lease's time to live. */
function leaseTiming(ttl_ms: number): { renew_ms: number; serve_ms: number } {
  const renew_ms = Math.max(100, Math.floor(ttl_ms / 5));
  return { renew_ms, serve_ms: ttl_ms - renew_ms };
}

export class ShardLeases {
  readonly member = randomBytes(8).toString('hex');
  readonly #held = new Map<number, Held>();
  readonly #timing: { renew_ms: number; serve_ms: number };
  #kv: KV | undefined;
  #epoch = 0;
  #renew_timer: NodeJS.Timeout | undefined;
  #balancing = false;
  /** A release was seen during a round: another round follows it. */
  #balance_again = false;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #renewing = false;
  #stopped = false;
  /** When the last renewal round (membership included) succeeded, monotonic ns. */
  #last_ok_ns = 0n;
  /** Live members seen by the last balancing round. */
  members = 0;

  constructor(private readonly o: LeaseOptions) {
    this.#timing = leaseTiming(o.ttl_ms);
  }

  /** Creates the bucket, joins and claims the fair share of the free shards before returning. */
  async start(): Promise<void> {
    this.#kv = await new Kvm(this.o.js).create(leasesBucket(this.o.prefix), { history: 1, storage: 'file', replicas: this.o.replicas, ttl: this.o.ttl_ms });
    const started = performance.now();
    await this.#renewAll();
    await this.#balance();
    this.o.log.info({ member: this.member, held: this.#held.size, members: this.members, ms: Math.round(performance.now() - started) }, 'shard leases: joined');
    void this.#watchReleases(this.#kv);
    this.#renew_timer = setInterval(() => {
      void this.#renewAll();
      void this.#balance();
    }, this.#timing.renew_ms);
    this.#renew_timer.unref();
  }

  /** The shards held now (serving or draining), with their fences. */
  held(): ShardLease[] {
    return [...this.#held].map(([shard, h]) => ({ shard, until_ns: h.until_ns, epoch: h.epoch, accepting: h.accepting }));
  }

  /** Whether this process takes new commands for the shard now. */
  accepting(shard: number): boolean {
    const h = this.#held.get(shard);
    return h !== undefined && h.accepting && process.hrtime.bigint() < h.until_ns;
  }

  get count(): number {
    return this.#held.size;
  }

  /** Joined and in touch with the bucket: holds leases, or waits for its share. */
  get ready(): boolean {
    return this.#last_ok_ns !== 0n && process.hrtime.bigint() - this.#last_ok_ns < BigInt(this.o.ttl_ms) * ms_ns;
  }

  #key(shard: number): string {
    return `s.${shard}`;
  }

  async #renewAll(): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined || this.#renewing || this.#stopped) return;
    this.#renewing = true;
    try {
      const sent = process.hrtime.bigint();
      const member = kv.put(`m.${this.member}`, '').then(() => true, (error: Error) => {
        this.o.log.warn({ err: error.message }, 'lease membership renewal failed');
        return false;
      });
      await Promise.all([...this.#held].map(([shard, h]) => this.#renew(kv, shard, h)));
      if (await member) this.#last_ok_ns = sent;
      this.#fence();
    } finally {
      this.#renewing = false;
    }
  }

  #renew(kv: KV, shard: number, h: Held): Promise<void> {
    const sent = process.hrtime.bigint();
    const renewing = kv.update(this.#key(shard), this.member, h.revision, this.#timing.renew_ms).then(
      (revision) => {
        h.revision = revision;
        h.until_ns = sent + BigInt(this.#timing.serve_ms) * ms_ns;
      },
      (error: Error) => {
        // Someone else wrote it: ours expired (we were cut off longer than the fence) — gone now.
        if (isWrongRevision(error) && this.#held.get(shard) === h) this.#lose(shard, 'the lease changed hands');
        else this.o.log.warn({ shard, err: error.message }, 'lease renewal failed; retried next round');
      },
    );
    h.renewing = renewing;
    return renewing;
  }

  /** Shards whose fence passed are no longer ours (their threads already stopped serving). */
  #fence(): void {
    const now = process.hrtime.bigint();
    for (const [shard, h] of this.#held) if (now >= h.until_ns) this.#lose(shard, 'not renewed in time');
    this.o.onChange();
  }

  #lose(shard: number, why: string): void {
    this.#held.delete(shard);
    this.o.log.warn({ shard, why }, 'shard lease lost; not serving it');
    this.o.onEvent?.('lost', shard);
    this.o.onChange();
  }

  /** A lease deleted (released by its holder) is claimed at once, not at the next round. */
  async #watchReleases(kv: KV): Promise<void> {
    try {
      this.#watch = await kv.watch({ key: 's.*', include: KvWatchInclude.UpdatesOnly });
      for await (const entry of this.#watch) if (entry.operation !== 'PUT' && !this.#stopped) void this.#balance();
    } catch (error) {
      this.o.log.warn({ err: String(error) }, 'lease release watch ended; releases are claimed at the next round');
    }
  }

  async #balance(): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined || this.#stopped) return;
    if (this.#balancing) {
      this.#balance_again = true;
      return;
    }
    this.#balancing = true;
    this.#balance_again = false;
    try {
      const { members, taken } = await within(this.#listKeys(kv), this.o.ttl_ms, 'listing the lease bucket');
      this.members = members.size;
      const share = Math.ceil(this.o.shards / members.size);
      const serving = [...this.#held].filter(([, h]) => h.accepting).map(([shard]) => shard);
      if (serving.length > share) {
        await Promise.all(serving.sort((a, b) => b - a).slice(0, serving.length - share).map((shard) => this.#release(kv, shard)));
        return;
      }
      const free = shuffle(Array.from({ length: this.o.shards }, (_, s) => s).filter((s) => !taken.has(s) && !this.#held.has(s)));
      await Promise.all(free.slice(0, share - this.#held.size).map((shard) => this.#claim(kv, shard)));
    } catch (error) {
      this.o.log.warn({ err: String(error) }, 'shard balancing failed; next round retries');
    } finally {
      this.#balancing = false;
      if (this.#balance_again) void this.#balance();
    }
  }

  async #listKeys(kv: KV): Promise<{ members: Set<string>; taken: Set<number> }> {
    const members = new Set<string>([this.member]);
    const taken = new Set<number>();
    for await (const key of await kv.keys()) {
      if (key.startsWith('m.')) members.add(key.slice(2));
      else if (key.startsWith('s.')) taken.add(Number(key.slice(2)));
    }
    return { members, taken };
  }

  async #claim(kv: KV, shard: number): Promise<void> {
    const sent = process.hrtime.bigint();
    try {
      const revision = await kv.create(this.#key(shard), this.member);
      if (this.#stopped) return;
      this.#held.set(shard, { revision, until_ns: sent + BigInt(this.#timing.serve_ms) * ms_ns, epoch: ++this.#epoch, accepting: true, renewing: undefined });
      this.o.onEvent?.('claimed', shard);
      this.o.onChange();
    } catch (error) {
      // Another process claimed it first: not ours.
      if (!isWrongRevision(error as Error)) this.o.log.warn({ shard, err: String(error) }, 'shard claim failed');
    }
  }

  /** Graceful: no new commands, those in hand finish, then the lease is deleted. */
  async #release(kv: KV, shard: number): Promise<void> {
    const h = this.#held.get(shard);
    if (h === undefined || !h.accepting) return;
    h.accepting = false;
    this.o.onChange();
    await this.o.drain(shard);
    if (this.#held.get(shard) !== h) return;
    await h.renewing;
    this.#held.delete(shard);
    this.o.onChange();
    await kv.delete(this.#key(shard), { previousSeq: h.revision }).catch((error: Error) => this.o.log.warn({ shard, err: error.message }, 'lease delete failed; it expires'));
    this.o.onEvent?.('released', shard);
  }

  /** After the threads stopped serving: every lease and the membership deleted. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#renew_timer);
    this.#watch?.stop();
    const kv = this.#kv;
    if (kv === undefined) return;
    const held = [...this.#held];
    this.#held.clear();
    // The membership first: the others, woken by the leases' deletes, count one member fewer.
    await kv.delete(`m.${this.member}`).catch(() => undefined);
    await Promise.all(held.map(async ([shard, h]) => {
      await h.renewing;
      await kv.delete(this.#key(shard), { previousSeq: h.revision }).catch(() => undefined);
    }));
  }
}

function isWrongRevision(error: Error): boolean {
  if (!(error instanceof JetStreamApiError)) return false;
  return error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
}

/** `work`, or a rejection once `ms` passed (a round stuck on the bucket does not stop the next). */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
