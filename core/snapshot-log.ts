// An entity's event log on JetStream, as payouts and splits keep theirs: one subject per entity,
// a message being the events of one decision and the state after them, appended with
// optimistic concurrency on the subject's last sequence and Nats-Msg-Id <id>:<version>; the
// latest state read back with a direct get of the subject's last message. And the boot-time
// helpers every module's streams use.

import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, encodeJson, type MoneySchema } from './codec';
import { assert, dependencyFailure } from './errors';

/** Another writer appended first (or our publish was a duplicate of someone else's). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

const wrong_last_sequence = 10071;
const stream_not_found = 10059;

export interface Loaded<S> {
  state: S;
  /** Stream sequence of the subject's last message: the next append's expectation. */
  seq: number;
}

export interface SnapshotLogOptions<E, S extends { version: number }> {
  /** What the log holds, for errors ('payout', 'split'). */
  label: string;
  stream: string;
  subject(id: string): string;
  evolve(state: S | undefined, event: E): S;
  /** The stored message's money fields ({ events: [...], state: ... }). */
  schema: MoneySchema;
  /** The id a state belongs to: a snapshot must belong to the entity it was read for. */
  idOf(state: S): string;
  /** Refuses a state no append may store (asserts). */
  check?(state: S): void;
}

export class SnapshotLog<E, S extends { version: number }> {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: SnapshotLogOptions<E, S>,
  ) {}

  async load(id: string): Promise<Loaded<S> | undefined> {
    const { label, stream, subject, schema, idOf } = this.options;
    let message;
    try {
      message = await this.jsm.direct.getMessage(stream, { last_by_subj: subject(id) });
    } catch (error) {
      throw dependencyFailure(error, 'NATS');
    }
    if (message === null) return undefined;
    const stored = decodeJson<{ events: E[]; state: S }>(message.data, schema);
    assert(idOf(stored.state) === id, `${label} store: snapshot belongs to another ${label}`);
    return { state: stored.state, seq: message.seq };
  }

  /** The events of one decision as one message after `loaded`; ConflictError when another
   * writer moved first. */
  async append(id: string, loaded: Loaded<S> | undefined, events: readonly E[]): Promise<Loaded<S>> {
    const { label, subject, evolve, check } = this.options;
    assert(events.length > 0, `${label} store: append needs at least one event`);
    let state = loaded?.state;
    for (const event of events) state = evolve(state, event);
    assert(state !== undefined, `${label} store: an append needs a state`);
    check?.(state);
    try {
      const ack = await this.js.publish(subject(id), encodeJson({ events, state }), {
        expect: { lastSubjectSequence: loaded?.seq ?? 0 },
        msgID: `${id}:${state.version}`,
      });
      if (ack.duplicate) throw new ConflictError(`${id}: version ${state.version} already stored`);
      return { state, seq: ack.seq };
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === wrong_last_sequence) throw new ConflictError(`${id}: another writer appended first`);
      throw error instanceof ConflictError ? error : dependencyFailure(error, 'NATS');
    }
  }
}

/** Creates a stream, or updates it to `config` when it exists (idempotent, at boot). */
export async function upsertStream(jsm: JetStreamManager, config: Record<string, unknown> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config as never);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === stream_not_found) {
      await jsm.streams.add(config as never);
      return;
    }
    throw error;
  }
}
