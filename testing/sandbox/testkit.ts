// Helpers for tests that drive real adapters against the sandbox over HTTP: a stand-in for
// paycore's callback port that records what arrives, the control API, and bounded waits.
// Test support only; nothing in production imports it.

import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChannelError } from '../../channels/channel';

/** Every wait in the integration tests ends by this bound. */
export const wait_ms_max = 5_000;

export interface ReceivedCallback {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Receiver {
  url: string;
  received: ReceivedCallback[];
  /** What the receiver answers: WeChat wants 204, Alipay the text `success`. */
  answer: (callback: ReceivedCallback) => { status: number; body: string };
  close(): Promise<void>;
}

export async function startReceiver(answer: Receiver['answer']): Promise<Receiver> {
  const receiver: Partial<Receiver> & { received: ReceivedCallback[] } = { received: [], answer };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const callback = { path: req.url ?? '/', headers: flatten(req.headers), body: Buffer.concat(chunks) };
      receiver.received.push(callback);
      const reply = receiver.answer!(callback);
      res.writeHead(reply.status, { 'content-type': 'text/plain' });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver as Receiver;
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read the sandbox's JSON answers loosely
export async function call(base_url: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: any }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${base_url}${path}`, { method, agent: false, timeout: wait_ms_max, headers: { 'content-type': 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(raw || '{}');
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, text: raw, json });
      });
    });
    request.on('timeout', () => request.destroy(new Error('control call timed out')));
    request.on('error', reject);
    request.end(text);
  });
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + wait_ms_max;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${wait_ms_max} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function rejection(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ChannelError) return error;
    throw error;
  }
  throw new Error('expected a ChannelError');
}

/** Today's date in China time: the bill date of anything the sandbox does now. */
export function chinaToday(offset_days = 0): string {
  return new Date(Date.now() + 8 * 3_600_000 + offset_days * 86_400_000).toISOString().slice(0, 10);
}
