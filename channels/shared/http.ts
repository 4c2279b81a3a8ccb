// Pieces every adapter shares: transport-error classification (what the provider may have
// seen), a holder for secrets that cannot be logged, settings (and key) validation, and small
// money/CSV helpers. China time is in ./china-time, key=value& bodies in ./form, signature
// primitives in ./crypto.

import { inspect } from 'node:util';
import { Pool, type Dispatcher } from 'undici';
import type { KeyObject } from 'node:crypto';
import { ChannelError, type ChannelConfig, type ProductName } from '../channel';
import { privateKey as loadPrivateKey, publicKey as loadPublicKey } from './crypto';

/** Call timeouts every adapter accepts in its settings (timeout_ms), and the default. */
export const timeout_ms_default = 10_000;
export const timeout_ms_min = 50;
export const timeout_ms_max = 60_000;
/** Idle provider connections are kept this long: providers close theirs after about a minute. */
const keep_alive_timeout_ms = 30_000;
/** Connections per provider origin: enough for a busy process, bounded against a stuck provider. */
const connections_max = 64;

/** Calls that may wait for a free connection to one provider origin, beyond the running ones.
 * undici's pool queues without limit: a provider that hangs would hold every connection and
 * let calls pile up behind them. Past this, a call is refused at once, unsent (a waiting call
 * waits at most for a running one, itself bounded by the timeouts). */
export const provider_queued_max = connections_max;
const queue_full_code = 'PAYCORE_PROVIDER_QUEUE_FULL';

/** undici's Pool whose queue of calls waiting for a connection is bounded. */
class BoundedPool extends Pool {
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.stats.queued >= provider_queued_max) {
      // Thrown here, the call's promise rejects with it (undici's request catches it).
      throw Object.assign(new Error(`${provider_queued_max} calls already wait for a connection`), { code: queue_full_code });
    }
    return super.dispatch(options, handler);
  }
}

/** The keep-alive connection pool an adapter calls its provider through; every phase of a
 * call (connect, headers, body) is bounded by the adapter's timeout, and so is the queue of
 * calls waiting for a connection (provider_queued_max). */
export function providerPool(origin: string, timeout_ms: number): Pool {
  return new BoundedPool(origin, {
    connections: connections_max,
    keepAliveTimeout: keep_alive_timeout_ms,
    headersTimeout: timeout_ms,
    bodyTimeout: timeout_ms,
    connect: { timeout: timeout_ms },
  });
}

/** The configured products, refused at boot when the provider does not offer one. */
export function providerProducts(config: ChannelConfig, offered: readonly ProductName[], provider_name: string): ProductName[] {
  for (const product of config.products) {
    if (!offered.includes(product)) throw new Error(`channel ${config.channel_id}: product ${product} is not a ${provider_name} product`);
  }
  return [...config.products];
}

/** Holds a secret string so that logging the holder cannot print it. */
export class Secret {
  readonly #value: string;
  constructor(value: string) { this.#value = value; }
  reveal(): string { return this.#value; }
  toString(): string { return '[secret]'; }
  toJSON(): string { return '[secret]'; }
  [inspect.custom](): string { return '[secret]'; }
}

/** Errors raised before a byte was written mean the provider saw nothing. */
const not_sent_codes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const timeout_codes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

export function transportError(provider: string, operation: string, error: unknown): ChannelError {
  if (error instanceof ChannelError) return error;
  const code = errorCode(error);
  if (code === queue_full_code) {
    return new ChannelError('not_sent', 'OVERLOADED', `${provider} ${operation}: ${provider_queued_max} calls already wait for a connection (not sent)`);
  }
  if (code !== undefined && not_sent_codes.has(code)) {
    return new ChannelError('not_sent', code, `${provider} ${operation}: could not connect (${code})`);
  }
  if (code !== undefined && timeout_codes.has(code)) {
    return new ChannelError('ambiguous', 'TIMEOUT', `${provider} ${operation}: no answer in time (${code})`);
  }
  return new ChannelError('ambiguous', code ?? 'NETWORK_ERROR', `${provider} ${operation}: transport error (${code ?? 'unknown'})`);
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (current as { errors?: unknown }).errors;
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Settings validation shared by adapters: every error names the key, never its value. */
export function settingsReader(channel_id: string, settings: Record<string, string>) {
  const fail = (key: string, why: string): never => {
    throw new Error(`channel ${channel_id}: settings.${key} ${why}`);
  };
  const optional = (key: string): string | undefined => {
    const value = settings[key];
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  };
  const required = (key: string): string => optional(key) ?? fail(key, 'is required');
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const text = optional(key);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) fail(key, `must be an integer from ${min} to ${max}`);
    return value;
  };
  const attempt = <T>(key: string, why: string, load: () => T): T => {
    try {
      return load();
    } catch (error) {
      if (error instanceof Error && error.message.startsWith(`channel ${channel_id}:`)) throw error;
      return fail(key, why);
    }
  };
  /** A required PEM key setting, loaded; refused naming the key (never echoing it) when not one. */
  const privateKey = (key: string): KeyObject => attempt(key, 'is not a valid PEM key', () => loadPrivateKey(required(key)));
  const publicKey = (key: string): KeyObject => attempt(key, 'is not a valid PEM key', () => loadPublicKey(required(key)));
  return { fail, optional, required, integer, attempt, privateKey, publicKey };
}

/** "88.88" (yuan, at most two decimals) → 8888n fen; undefined when not exactly that shape. */
export function parseYuan(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const match = /^(-?)(\d{1,15})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (match === null) return undefined;
  const fen = BigInt(match[2]!) * 100n + BigInt((match[3] ?? '').padEnd(2, '0'));
  return match[1] === '-' ? -fen : fen;
}

/** 8888n fen → "88.88". */
export function formatYuan(fen: bigint): string {
  const negative = fen < 0n;
  const magnitude = negative ? -fen : fen;
  return `${negative ? '-' : ''}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')}`;
}

/** A calendar date 'YYYY-MM-DD' that exists. */
export function isCalendarDate(date: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return false;
  const parsed = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === date;
}

/**
 * One CSV line → fields. Handles double-quoted fields with "" escapes; the bills quote
 * nothing normally but a product name may carry a comma.
 */
export function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        current += '"';
        i++;
      } else if (char === '"') quoted = false;
      else current += char;
    } else if (char === '"' && current === '') quoted = true;
    else if (char === ',') {
      fields.push(current);
      current = '';
    } else current += char;
  }
  fields.push(current);
  return fields;
}
