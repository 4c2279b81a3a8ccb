// Shard ownership by leases (docs/architecture.md §3 and §7): one process at a time holds a
// shard, and only the holder serves its commands, so no other process's cached actor answers
// for it.
//
// Two NATS KV buckets. `<PREFIX>_SHARD_MEMBERS`, whose max age is the lease's time to live
// (nats-server 2.9 has no per-key TTL): `m.<member>` says a process is alive; the process
// renews it every TTL/5 with an `update` naming the revision it last wrote, so one write per
// process per round whatever the number of shards. `<PREFIX>_SHARD_OWNERS`, kept (no max
// age): `s.<shard>` names the member holding the shard. A free shard (no key, or deleted) is
// claimed with `create`; a shard whose holder's membership has expired is claimed with an
// `update` naming the revision read (so of two claimants one wins); a holder releases with a
// `delete` naming its revision. A process that finds its own membership gone (its renewal
// refused) holds nothing any more and joins again under a new member id.
//
// Fencing: the membership is ours from the moment we SENT its last successful renewal, so it
// cannot expire on the server before `sent + ttl_ms`, and nobody claims our shards before it
// expired (they read it absent first). The holder serves its shards only until
// `sent + ttl_ms - margin` by this process's monotonic clock (`until_ns`, process.hrtime, the
// same clock on every thread of the process): a holder that cannot renew stops before any
// other process can claim.
//
// What each process knows of the others comes from two watches, not from listing the buckets:
// the owners' changes (a claim, a release — rare) and the members' renewals (one per process
// per round). A member not seen renewing for a time to live is read once from the bucket; absent
// there, it is dead and its shards are free. Fair share: each process aims at ceil(shards /
// live members); one above it releases the surplus gracefully (stops taking new commands for the
// shard, lets those in hand finish, deletes the owner key); one below claims free shards, at once
// when a watch shows one freed, a member gone or a member joined, else at its next round.

import { randomBytes } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
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
  /** The owner key's revision this process wrote (its claim). */
  revision: number;
  epoch: number;
  accepting: boolean;
}

/** A shard's owner key as the watch last showed it; `member` is '' once deleted (free). */
interface Owner {
  member: string;
  revision: number;
}

/** The deployment's two lease buckets (docs/architecture.md §3). */
export function leaseBuckets(prefix: string): { owners: string; members: string } {
  const p = prefix.toUpperCase();
  return { owners: `${p}_SHARD_OWNERS`, members: `${p}_SHARD_MEMBERS` };
}

const ms_ns = 1_000_000n;

/** The renewal period and the fencing margin of a lease's time to live. */
function leaseTiming(ttl_ms: number): { renew_ms: number; serve_ms: number } {
  const renew_ms = Math.max(100, Math.floor(ttl_ms / 5));
  return { renew_ms, serve_ms: ttl_ms - renew_ms };
}

function newMember(): string {
  return randomBytes(8).toString('hex');
}

export class ShardLeases {
  #member = newMember();
  readonly #held = new Map<number, Held>();
  /** The owners bucket as its watch shows it. */
  readonly #owners = new Map<number, Owner>();
  /** Members seen alive → when last seen renewing (performance.now). */
  readonly #seen = new Map<string, number>();
  /** Members read absent from the bucket: expired or gone; a member id is never used again. */
  readonly #dead = new Set<string>();
  readonly #timing: { renew_ms: number; serve_ms: number };
  readonly #watches: QueuedIterator<KvWatchEntry>[] = [];
  #owners_kv: KV | undefined;
  #members_kv: KV | undefined;
  #member_revision = 0;
  /** Every held shard is served until then (the membership's fence). */
  #until_ns = 0n;
  #epoch = 0;
  #round_timer: NodeJS.Timeout | undefined;
  #joined = false;
  #balancing = false;
  /** Something changed during a balancing round: another round follows it. */
  #balance_again = false;
  #renewing = false;
  #stopped = false;
  /** When the last membership renewal that succeeded was sent, monotonic ns. */
  #last_ok_ns = 0n;
  /** Live members as last counted (this process included). */
  members = 0;

  constructor(private readonly o: LeaseOptions) {
    this.#timing = leaseTiming(o.ttl_ms);
  }

  /** This process's member id (a new one after its membership expired). */
  get member(): string {
    return this.#member;
  }

  /** Creates the buckets, reads them, joins and claims the fair share of the free shards before returning. */
  async start(): Promise<void> {
    const kvm = new Kvm(this.o.js);
    const buckets = leaseBuckets(this.o.prefix);
    const [owners, members] = await Promise.all([
      kvm.create(buckets.owners, { history: 1, storage: 'file', replicas: this.o.replicas }),
      kvm.create(buckets.members, { history: 1, storage: 'file', replicas: this.o.replicas, ttl: this.o.ttl_ms }),
    ]);
    this.#owners_kv = owners;
    this.#members_kv = members;
    const started = performance.now();
    await Promise.all([
      this.#follow(buckets.owners, owners, (e) => this.#ownerChanged(e)),
      this.#follow(buckets.members, members, (e) => this.#memberChanged(e)),
    ]);
    await this.#join(members);
    this.#joined = true;
    await this.#checkMembers(members);
    await this.#balance();
    this.o.log.info({ member: this.#member, held: this.#held.size, members: this.members, ms: Math.round(performance.now() - started) }, 'shard leases: joined');
    this.#round_timer = setInterval(() => void this.#round(), this.#timing.renew_ms);
    this.#round_timer.unref();
  }

  /** The shards held now (serving or draining), with their fences. */
  held(): ShardLease[] {
    return [...this.#held].map(([shard, h]) => ({ shard, until_ns: this.#until_ns, epoch: h.epoch, accepting: h.accepting }));
  }

  /** Whether this process takes new commands for the shard now. */
  accepting(shard: number): boolean {
    const h = this.#held.get(shard);
    return h !== undefined && h.accepting && process.hrtime.bigint() < this.#until_ns;
  }

  get count(): number {
    return this.#held.size;
  }

  /** Joined and in touch with the buckets: holds leases, or waits for its share. */
  get ready(): boolean {
    return this.#last_ok_ns !== 0n && process.hrtime.bigint() - this.#last_ok_ns < BigInt(this.o.ttl_ms) * ms_ns;
  }

  #key(shard: number): string {
    return `s.${shard}`;
  }

  /** Applies the bucket's last values, then its changes as they come; resolves once the last
   * values are read (or after a renewal period: a partial view only delays a claim, every
   * claim is conditional). A watch that ends is started again. */
  async #follow(bucket: string, kv: KV, apply: (entry: KvWatchEntry) => void): Promise<void> {
    const { values } = await kv.status();
    const watch = await kv.watch();
    this.#watches.push(watch);
    let read!: () => void;
    const initial = new Promise<void>((resolve) => (read = resolve));
    if (values === 0) read();
    void (async () => {
      try {
        for await (const entry of watch) {
          apply(entry);
          if (entry.isUpdate || entry.delta === 0) read();
        }
      } catch (error) {
        this.o.log.warn({ bucket, err: String(error) }, 'lease watch failed');
      }
      read();
      if (this.#stopped) return;
      this.o.log.warn({ bucket }, 'lease watch ended; watching again');
      setTimeout(() => void this.#follow(bucket, kv, apply).catch((error: Error) => this.o.log.warn({ err: error.message }, 'lease watch restart failed')), this.#timing.renew_ms).unref();
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([initial, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#timing.renew_ms)))]);
    clearTimeout(timer);
  }

  #ownerChanged(entry: KvWatchEntry): void {
    const shard = Number(entry.key.slice(2));
    if (!entry.key.startsWith('s.') || !Number.isInteger(shard) || shard < 0 || shard >= this.o.shards) return;
    const member = entry.operation === 'PUT' ? entry.string() : '';
    const known = this.#owners.get(shard);
    if (known !== undefined && known.revision > entry.revision) return;
    this.#owners.set(shard, { member, revision: entry.revision });
    const h = this.#held.get(shard);
    // Someone else wrote it: they found our membership expired (we were cut off past the fence).
    if (h !== undefined && entry.revision > h.revision && member !== this.#member) this.#lose(shard, 'the lease changed hands');
    if (member === '' || this.#dead.has(member)) this.#nudge();
  }

  #memberChanged(entry: KvWatchEntry): void {
    if (!entry.key.startsWith('m.')) return;
    const member = entry.key.slice(2);
    if (entry.operation === 'PUT') {
      if (this.#dead.has(member)) return;
      const joined = !this.#seen.has(member);
      this.#seen.set(member, performance.now());
      if (joined) this.#nudge();
    } else {
      this.#seen.delete(member);
      if (member !== this.#member) this.#dead.add(member);
      this.#nudge();
    }
  }

  #nudge(): void {
    if (this.#joined && !this.#stopped) void this.#balance();
  }

  async #join(kv: KV): Promise<void> {
    const sent = process.hrtime.bigint();
    this.#member_revision = await kv.create(`m.${this.#member}`, '');
    this.#renewed(sent);
    this.#seen.set(this.#member, performance.now());
  }

  #renewed(sent: bigint): void {
    this.#last_ok_ns = sent;
    this.#until_ns = sent + BigInt(this.#timing.serve_ms) * ms_ns;
  }

  /** Every TTL/5: the membership renewed (one write whatever the shards held), the fence
   * checked, the members not seen renewing read from the bucket, the share balanced. */
  async #round(): Promise<void> {
    const kv = this.#members_kv;
    if (kv === undefined || this.#renewing || this.#stopped) return;
    this.#renewing = true;
    try {
      const sent = process.hrtime.bigint();
      try {
        this.#member_revision = await kv.update(`m.${this.#member}`, '', this.#member_revision, this.#timing.renew_ms);
        this.#renewed(sent);
        this.#seen.set(this.#member, performance.now());
      } catch (error) {
        if (isWrongRevision(error as Error)) await this.#rejoin(kv);
        else this.o.log.warn({ err: String(error) }, 'lease membership renewal failed; retried next round');
      }
      this.#fence();
      await this.#checkMembers(kv);
    } catch (error) {
      this.o.log.warn({ err: String(error) }, 'lease round failed; next round retries');
    } finally {
      this.#renewing = false;
    }
    void this.#balance();
  }

  /** Our membership expired (we were cut off longer than the fence): nothing is ours any more;
   * join again under a new id and claim like any newcomer. */
  async #rejoin(kv: KV): Promise<void> {
    for (const shard of [...this.#held.keys()]) this.#lose(shard, 'the membership expired');
    this.#dead.add(this.#member);
    this.#seen.delete(this.#member);
    this.#member = newMember();
    this.o.log.warn({ member: this.#member }, 'shard lease membership expired; joining again');
    await this.#join(kv);
  }

  /** Shards whose fence passed are no longer ours (their threads already stopped serving). */
  #fence(): void {
    const now = process.hrtime.bigint();
    if (now >= this.#until_ns) for (const shard of [...this.#held.keys()]) this.#lose(shard, 'not renewed in time');
    this.o.onChange();
  }

  #lose(shard: number, why: string): void {
    this.#held.delete(shard);
    this.o.log.warn({ shard, why }, 'shard lease lost; not serving it');
    this.o.onEvent?.('lost', shard);
    this.o.onChange();
  }

  /** A member not seen renewing for a time to live, or named as an owner and never seen, is
   * read from the bucket: absent, it is dead (its membership expired, so its fence passed). */
  async #checkMembers(kv: KV): Promise<void> {
    const now = performance.now();
    const suspects = new Set<string>();
    for (const [member, at] of this.#seen) if (member !== this.#member && now - at > this.o.ttl_ms) suspects.add(member);
    for (const { member } of this.#owners.values()) {
      if (member !== '' && member !== this.#member && !this.#seen.has(member) && !this.#dead.has(member)) suspects.add(member);
    }
    let changed = false;
    await Promise.all([...suspects].map(async (member) => {
      const entry = await kv.get(`m.${member}`);
      if (entry === null || entry.operation !== 'PUT') {
        this.#seen.delete(member);
        this.#dead.add(member);
        changed = true;
      } else {
        // Alive: looked at again a time to live after its last write (the server's clock,
        // used for when to look only), not a time to live from now.
        const joined = !this.#seen.has(member);
        this.#seen.set(member, now - Math.min(this.o.ttl_ms, Math.max(0, Date.now() - entry.created.getTime())));
        changed ||= joined;
      }
    }));
    // The dead no owner names any more are forgotten (ids are never reused).
    const named = new Set([...this.#owners.values()].map((o) => o.member));
    for (const member of this.#dead) if (!named.has(member)) this.#dead.delete(member);
    if (changed) this.#nudge();
  }

  /** A shard nobody holds: never claimed, released, its holder's membership expired — or ours
   * still, but given up when our fence passed (nobody else may claim it while our membership
   * lives; the claim names its revision all the same). */
  #claimable(shard: number): boolean {
    if (this.#held.has(shard)) return false;
    const owner = this.#owners.get(shard);
    return owner === undefined || owner.member === '' || owner.member === this.#member || this.#dead.has(owner.member);
  }

  async #balance(): Promise<void> {
    if (this.#owners_kv === undefined || this.#stopped) return;
    if (this.#balancing) {
      this.#balance_again = true;
      return;
    }
    this.#balancing = true;
    this.#balance_again = false;
    try {
      this.members = new Set([...this.#seen.keys(), this.#member]).size;
      // Not in touch with the members bucket: claim nothing (what we hold is fenced meanwhile).
      if (process.hrtime.bigint() >= this.#until_ns) return;
      const share = Math.ceil(this.o.shards / this.members);
      const serving = [...this.#held].filter(([, h]) => h.accepting).map(([shard]) => shard);
      if (serving.length > share) {
        await Promise.all(serving.sort((a, b) => b - a).slice(0, serving.length - share).map((shard) => this.#release(shard)));
        return;
      }
      const free = shuffle(Array.from({ length: this.o.shards }, (_, s) => s).filter((s) => this.#claimable(s)));
      await Promise.all(free.slice(0, share - this.#held.size).map((shard) => this.#claim(shard)));
    } catch (error) {
      this.o.log.warn({ err: String(error) }, 'shard balancing failed; next round retries');
    } finally {
      this.#balancing = false;
      if (this.#balance_again) void this.#balance();
    }
  }

  /** Conditional: `create` if the key was never written, else an `update` naming the revision
   * read (a release's delete marker, or a dead holder's claim) — of two claimants one wins. */
  async #claim(shard: number): Promise<void> {
    const kv = this.#owners_kv!;
    const owner = this.#owners.get(shard);
    const member = this.#member;
    try {
      const revision = owner === undefined ? await kv.create(this.#key(shard), member) : await kv.update(this.#key(shard), member, owner.revision);
      if (this.#stopped || member !== this.#member) {
        await kv.delete(this.#key(shard), { previousSeq: revision }).catch(() => undefined);
        return;
      }
      this.#held.set(shard, { revision, epoch: ++this.#epoch, accepting: true });
      const known = this.#owners.get(shard);
      if (known === undefined || known.revision < revision) this.#owners.set(shard, { member, revision });
      this.o.onEvent?.('claimed', shard);
      this.o.onChange();
    } catch (error) {
      if (!isWrongRevision(error as Error)) {
        this.o.log.warn({ shard, err: String(error) }, 'shard claim failed');
        return;
      }
      // Another process claimed it first, or the watch has not shown a change yet: read it.
      const entry = await kv.get(this.#key(shard)).catch(() => null);
      const known = this.#owners.get(shard);
      if (entry !== null && (known === undefined || known.revision < entry.revision)) {
        this.#owners.set(shard, { member: entry.operation === 'PUT' ? entry.string() : '', revision: entry.revision });
      }
    }
  }

  /** Graceful: no new commands, those in hand finish, then the owner key is deleted. */
  async #release(shard: number): Promise<void> {
    const h = this.#held.get(shard);
    if (h === undefined || !h.accepting) return;
    h.accepting = false;
    this.o.onChange();
    await this.o.drain(shard);
    if (this.#held.get(shard) !== h) return;
    this.#held.delete(shard);
    this.o.onChange();
    await this.#owners_kv!.delete(this.#key(shard), { previousSeq: h.revision }).catch((error: Error) => this.o.log.warn({ shard, err: error.message }, 'lease delete failed; it is claimed once the membership expires'));
    this.o.onEvent?.('released', shard);
  }

  /** After the threads stopped serving: the membership and every owner key deleted. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#round_timer);
    for (const watch of this.#watches) watch.stop();
    const held = [...this.#held];
    this.#held.clear();
    // The membership first: the others, woken by the owners' deletes, count one member fewer.
    await this.#members_kv?.delete(`m.${this.#member}`).catch(() => undefined);
    await Promise.all(held.map(([shard, h]) => this.#owners_kv?.delete(this.#key(shard), { previousSeq: h.revision }).catch(() => undefined)));
  }
}

function isWrongRevision(error: Error): boolean {
  if (!(error instanceof JetStreamApiError)) return false;
  return error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
