// Supervises the actor-host threads. When a thread dies, every request it had in hand is
// answered at once (DEPENDENCY_DOWN: retry with the same key) and the thread is replaced.
// It holds the process's shard leases (workers/leases.ts) and tells each thread which of its
// shards (s mod W = w) the process holds now. It also hands this process's own commands for
// a shard it holds to the thread that serves it over the thread's port (dispatch), without
// the two messages and two socket writes of a NATS request and its reply; a command for a
// shard another process holds goes over NATS to that process.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeJson } from '../core/codec';
import type { Config } from '../core/config';
import { worker_drain_ms_max } from '../core/constants';
import type { Logger } from '../core/log';
import type { MetricsJson } from '../core/metrics';
import { shardOf } from '../core/ids';
import type { ActorReply, ActorRequest } from '../core/orders/protocol';
import { ShardLeases, type LeaseEvent } from './leases';
import type { ActorHostData, FromWorker, ToWorker } from './messages';
import { PumpGate } from './timer-pump';

interface Slot {
  worker: Worker;
  inflight: Set<string>;
  stopping: boolean;
  /** Said `ready`: takes messages. */
  ready: boolean;
  /** Ready, with its NATS link up. */
  serving: boolean;
  /** Shards being released, waiting for the thread's `drained`. */
  drains: Map<number, () => void>;
  /** Its routing table can route. */
  routable: boolean;
  /** Commands handed over its port and not answered yet, by id. */
  commands: Map<number, (reply: ActorReply) => void>;
}

/** The compiled host script next to this file (tests running TypeScript pass dist's). */
const host_script_default = path.join(__dirname, 'actor-host.js');

export class ActorPool {
  readonly #slots: Slot[] = [];
  #stopping = false;
  #pumps_open = false;
  /** Threads replaced after dying, for metrics and tests. */
  restarts = 0;
  onRestart: (() => void) | undefined;
  /** A shard claimed, released or lost (metrics). */
  onLease: ((event: LeaseEvent, held: number) => void) | undefined;
  /** A thread's ability to serve changed (its NATS link, its routing table): health is read anew. */
  onServingChange: (() => void) | undefined;
  #leases: ShardLeases | undefined;
  #metrics_request = 0;
  readonly #metrics_waiting = new Map<number, (json: MetricsJson) => void>();
  #command_id = 0;
  /** Open while every thread is up with its NATS link: the timer pumps fire only then (the threads'
   * and the main thread's creation timers, workers/event-reader.ts). */
  readonly gate = new PumpGate();

  constructor(
    private readonly config: Config,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly host_script = host_script_default,
  ) {}

  /** The threads, then the leases: the free shards of this process's fair share are claimed
   * (all of them when it runs alone) before this returns. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.config.workers }, (_, index) => this.#spawn(index)));
    const leases = new ShardLeases({
      js: jetstream(this.nc),
      prefix: this.config.prefix,
      shards: this.config.shards,
      ttl_ms: this.config.lease_ttl_ms,
      replicas: this.config.stream_replicas,
      log: this.log,
      onChange: () => this.#postShards(),
      drain: (shard) => this.#drain(shard),
      onEvent: (event, shard) => {
        this.log.info({ shard, event, held: leases.count }, 'shard lease');
        this.onLease?.(event, leases.count);
      },
    });
    this.#leases = leases;
    await leases.start();
  }

  /** The process's shard leases (undefined before start). */
  get leases(): ShardLeases | undefined {
    return this.#leases;
  }

  #postShards(): void {
    const held = this.#leases?.held() ?? [];
    this.#slots.forEach((slot, index) => {
      if (!slot.ready || slot.worker.threadId === -1) return;
      slot.worker.postMessage({ type: 'shards', shards: held.filter((l) => l.shard % this.config.workers === index) } satisfies ToWorker);
    });
  }

  /** Resolves once the shard's thread answered the commands it had for it (or died, or the
   * drain bound passed: the lease is deleted anyway, and OCC keeps a late append safe). */
  #drain(shard: number): Promise<void> {
    const slot = this.#slots[shard % this.config.workers];
    if (slot === undefined || slot.worker.threadId === -1) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, worker_drain_ms_max);
      function done(): void {
        clearTimeout(timer);
        slot!.drains.delete(shard);
        resolve();
      }
      slot.drains.get(shard)?.();
      slot.drains.set(shard, done);
    });
  }

  get threads(): readonly Worker[] {
    return this.#slots.map((s) => s.worker);
  }

  #spawn(index: number): Promise<void> {
    const data: ActorHostData = { config: this.config, worker_index: index, worker_count: this.config.workers };
    const worker = new Worker(this.host_script, { workerData: data });
    const slot: Slot = { worker, inflight: new Set(), stopping: false, ready: false, serving: false, routable: false, commands: new Map(), drains: new Map() };
    this.#slots[index] = slot;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            slot.ready = true;
            slot.serving = true;
            this.#postShards();
            this.#updatePumps();
            resolve();
            return;
          case 'drained':
            slot.drains.get(message.shard)?.();
            return;
          case 'link':
            slot.serving = message.up;
            this.#updatePumps();
            this.onServingChange?.();
            return;
          case 'routable':
            slot.routable = message.up;
            this.onServingChange?.();
            return;
          case 'inflight':
            slot.inflight.add(message.reply);
            return;
          case 'settled':
            slot.inflight.delete(message.reply);
            return;
          case 'fatal':
            this.log.error({ worker: index, error: message.error }, 'actor host failed');
            if (!ready) reject(new Error(`actor host ${index}: ${message.error.message}`));
            return;
          case 'stopped':
            slot.stopping = true;
            return;
          case 'metrics':
            this.#metrics_waiting.get(message.request_id)?.(message.metrics);
            return;
          case 'answer':
            slot.commands.get(message.id)?.(message.reply);
            slot.commands.delete(message.id);
            return;
        }
      });
      worker.on('error', (error) => this.log.error({ worker: index, err: String(error) }, 'actor host error'));
      worker.on('exit', (code) => {
        if (!ready) reject(new Error(`actor host ${index} exited with ${code} before it was ready`));
        slot.ready = false;
        slot.serving = false;
        slot.routable = false;
        this.#updatePumps();
        this.#answerOrphans(slot);
        for (const done of [...slot.drains.values()]) done();
        if (this.#stopping || slot.stopping) return;
        this.restarts += 1;
        this.onRestart?.();
        this.log.error({ worker: index, code }, 'actor host died; replacing it');
        this.#spawn(index).catch((error: Error) => this.log.error({ worker: index, err: error.message }, 'actor host replacement failed'));
      });
    });
  }

  /** Whether every thread is up and can route, and the process holds its leases or waits for
   * its share (in touch with the lease bucket): part of the gateway's health. */
  get serving(): boolean {
    return this.#slots.length === this.config.workers && this.#slots.every((s) => s.serving && s.routable) && this.#leases?.ready === true;
  }

  /** Timer pumps fire only while every thread is up with its NATS link. */
  #updatePumps(): void {
    const open = this.#slots.length === this.config.workers && this.#slots.every((s) => s.serving);
    if (open === this.#pumps_open) return;
    this.#pumps_open = open;
    this.gate.set(open);
    for (const slot of this.#slots) if (slot.worker.threadId !== -1) slot.worker.postMessage({ type: 'pump', open } satisfies ToWorker);
  }

  /** Hands a command to the thread serving its shard, which answers over its port; undefined
   * when this process does not take the shard's commands now (another process holds it, it is
   * being released) or that thread does not serve now (starting, replaced, link down,
   * stopping): the caller sends it over NATS, to the process holding the shard. */
  dispatch(request: ActorRequest, trace: Record<string, string>): Promise<ActorReply> | undefined {
    if (this.#stopping) return undefined;
    const shard = shardOf(request.payment_id, this.config.shards);
    if (this.#leases?.accepting(shard) !== true) return undefined;
    const slot = this.#slots[shard % this.config.workers];
    if (slot === undefined || !slot.serving || slot.stopping) return undefined;
    const id = ++this.#command_id;
    return new Promise((resolve) => {
      slot.commands.set(id, resolve);
      slot.worker.postMessage({ type: 'command', id, request, trace } satisfies ToWorker);
    });
  }

  #answerOrphans(slot: Slot): void {
    const reply: ActorReply = {
      ok: false,
      error: { reason: 'DEPENDENCY_DOWN', message: 'DEPENDENCY_DOWN: the actor thread serving this payment died; retry with the same key' },
    };
    for (const answer of slot.commands.values()) answer(reply);
    slot.commands.clear();
    if (slot.inflight.size === 0) return;
    const body = encodeJson(reply);
    for (const subject of slot.inflight) this.nc.publish(subject, body);
    this.log.warn({ orphans: slot.inflight.size }, 'answered requests of a dead actor host');
    slot.inflight.clear();
  }

  /** Every live thread's metrics; a thread that does not answer in time is left out. */
  async collectMetrics(timeout_ms: number): Promise<MetricsJson[]> {
    const answers = this.#slots.map(
      (slot) =>
        new Promise<MetricsJson | undefined>((resolve) => {
          const request_id = ++this.#metrics_request;
          const timer = setTimeout(() => {
            this.#metrics_waiting.delete(request_id);
            resolve(undefined);
          }, timeout_ms);
          this.#metrics_waiting.set(request_id, (json) => {
            clearTimeout(timer);
            this.#metrics_waiting.delete(request_id);
            resolve(json);
          });
          slot.worker.postMessage({ type: 'metrics', request_id } satisfies ToWorker);
        }),
    );
    return (await Promise.all(answers)).filter((json): json is MetricsJson => json !== undefined);
  }

  /** The threads stop (their subscriptions drained, their commands in hand answered), then
   * the leases are deleted for the other processes to claim at once. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void slot.worker.terminate().then(() => resolve()), worker_drain_ms_max + 1_000);
            slot.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            slot.worker.postMessage({ type: 'stop' } satisfies ToWorker);
          }),
      ),
    );
    await this.#leases?.stop();
  }
}
