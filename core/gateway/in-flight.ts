// Back-pressure at the gateway: how many commands this process has waiting on the actors at
// once is bounded (core/constants.ts, gateway_commands_in_flight_max). Past the bound a
// command is refused at once with OVERLOADED (RESOURCE_EXHAUSTED) and a retry hint in its
// ErrorInfo metadata (retry_after_ms), before anything is sent: nothing ran, the caller
// retries with the same key.

import { overloaded_retry_after_ms } from '../constants';
import { PaycoreError } from '../errors';

interface CommandSender<C, R> {
  send(command: C): Promise<R>;
}

/** `inner` with at most `max` sends in flight; the count is readable (metrics, tests). */
export function boundInFlight<C, R>(inner: CommandSender<C, R>, max: number): CommandSender<C, R> & { readonly in_flight: number } {
  let in_flight = 0;
  return {
    get in_flight() {
      return in_flight;
    },
    async send(command) {
      if (in_flight >= max) {
        throw new PaycoreError('OVERLOADED', `${max} commands already wait on this gateway; retry with the same key`, [], {
          retry_after_ms: String(overloaded_retry_after_ms),
        });
      }
      in_flight += 1;
      try {
        return await inner.send(command);
      } finally {
        in_flight -= 1;
      }
    },
  };
}
