import { overloaded_retry_after_ms } from '../constants';
import { PaycoreError } from '../errors';
import { boundInFlight } from './in-flight';

/** An inner sender whose answers the test releases one by one. */
function held(): { sent: string[]; release(answer: string): void; fail(error: Error): void; send(command: string): Promise<string> } {
  const waiting: { resolve(v: string): void; reject(e: Error): void }[] = [];
  const sent: string[] = [];
  return {
    sent,
    release: (answer) => waiting.shift()!.resolve(answer),
    fail: (error) => waiting.shift()!.reject(error),
    send(command) {
      sent.push(command);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
  };
}

test('in flight - past the bound a command is refused OVERLOADED with a retry hint, unsent; a finished one frees its place', async () => {
  const inner = held();
  const bounded = boundInFlight(inner, 2);
  const first = bounded.send('a');
  const second = bounded.send('b');
  expect(bounded.in_flight).toBe(2);
  const refused = await bounded.send('c').then(() => undefined, (error: unknown) => error);
  expect(refused).toBeInstanceOf(PaycoreError);
  expect((refused as PaycoreError).reason).toBe('OVERLOADED');
  expect((refused as PaycoreError).metadata).toEqual({ retry_after_ms: String(overloaded_retry_after_ms) });
  expect(inner.sent).toEqual(['a', 'b']);

  inner.release('A');
  await expect(first).resolves.toBe('A');
  expect(bounded.in_flight).toBe(1);
  const third = bounded.send('d');
  expect(inner.sent).toEqual(['a', 'b', 'd']);
  // A failed command frees its place too.
  inner.fail(new Error('actor down'));
  await expect(second).rejects.toThrow('actor down');
  inner.release('D');
  await expect(third).resolves.toBe('D');
  expect(bounded.in_flight).toBe(0);
});
