// Whether a NATS connection is up now, known synchronously: the gateway refuses work at once
// while it is down instead of publishing into the client's reconnect buffer (a request
// buffered there could be delivered after its caller was told UNAVAILABLE; see ActorRequest's
// deadline_at_ms for the requests already in flight when the link drops).

import { errors, type NatsConnection } from '@nats-io/transport-node';

/** A request no subscriber took (the client reports it either bare or inside a RequestError). */
export function isNoResponders(error: unknown): boolean {
  return error instanceof errors.NoRespondersError || (error instanceof errors.RequestError && error.isNoResponders());
}

export class NatsLink {
  #up = true;
  readonly #listeners: ((up: boolean) => void)[] = [];

  constructor(nc: NatsConnection) {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect' || status.type === 'close') this.#set(false);
        if (status.type === 'reconnect') this.#set(true);
      }
      this.#set(false);
    })();
    void nc.closed().then(() => this.#set(false));
  }

  get up(): boolean {
    return this.#up;
  }

  onChange(listener: (up: boolean) => void): void {
    this.#listeners.push(listener);
  }

  #set(up: boolean): void {
    if (up === this.#up) return;
    this.#up = up;
    for (const listener of this.#listeners) listener(up);
  }
}
