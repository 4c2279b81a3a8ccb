// JSON for everything paycore puts on NATS (commands, replies, events). Money is bigint in
// code; on the wire it is a decimal string (the `*_minor` fields of docs/events.md). Decoding
// is by schema: the reader names where money sits in the message it expects, and only those
// fields become bigint. Everything else — above all the caller's own data, such as merchant
// metadata, whatever its keys are called — comes back exactly as it was sent. No number ever
// holds money.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where money sits in a message: 'minor' is a bigint carried as a decimal string; a nested
 * schema describes an object field; `[rule]` describes every element of an array field.
 * Fields the schema does not name are never looked at. */
type MoneyRule = 'minor' | MoneySchema | readonly [MoneyRule];
export interface MoneySchema {
  readonly [field: string]: MoneyRule;
}

/** For messages that carry no money (timers, notification queue entries). */
export const no_money: MoneySchema = {};

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, replacer));
}

export function encodeJsonString(value: unknown): string {
  return JSON.stringify(value, replacer);
}

export function decodeJson<T>(data: Uint8Array | string, schema: MoneySchema): T {
  const text = typeof data === 'string' ? data : decoder.decode(data);
  // A plain parse, then only the schema's fields are visited: V8's JSON.parse is several
  // times faster without a reviver (measured on payment snapshots).
  const value: unknown = JSON.parse(text);
  reviveObject(value, schema);
  return value as T;
}

function reviveObject(value: unknown, schema: MoneySchema): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  const record = value as Record<string, unknown>;
  for (const field of Object.keys(schema)) {
    if (!Object.hasOwn(record, field)) continue;
    record[field] = revive(field, record[field], schema[field]!);
  }
}

function revive(field: string, value: unknown, rule: MoneyRule): unknown {
  if (value === undefined || value === null) return value; // an absent optional field
  if (rule === 'minor') return toMinor(field, value);
  if (isArrayRule(rule)) {
    if (Array.isArray(value)) for (let i = 0; i < value.length; i += 1) value[i] = revive(field, value[i], rule[0]);
    return value;
  }
  reviveObject(value, rule);
  return value;
}

function isArrayRule(rule: MoneyRule): rule is readonly [MoneyRule] {
  return Array.isArray(rule);
}

function toMinor(field: string, value: unknown): bigint {
  if (typeof value === 'number') throw new Error(`codec: ${field} arrived as a JSON number; money travels as a decimal string`);
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw new Error(`codec: ${field} is not an integer: ${String(value)}`);
  return BigInt(value);
}
