// JSON for everything paycore puts on NATS (commands, replies, events). Money is bigint in
// code; on the wire a field whose name ends in `_minor` carries a decimal string, and the
// decoder turns exactly those fields back into bigint. No number ever holds money.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function reviver(key: string, value: unknown): unknown {
  if (key.endsWith('_minor') && typeof value === 'number') {
    throw new Error(`codec: ${key} arrived as a JSON number; money travels as a decimal string`);
  }
  if (key.endsWith('_minor') && typeof value === 'string') {
    if (!/^-?\d+$/.test(value)) throw new Error(`codec: ${key} is not an integer: ${value}`);
    return BigInt(value);
  }
  return value;
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, replacer));
}

export function encodeJsonString(value: unknown): string {
  return JSON.stringify(value, replacer);
}

export function decodeJson<T>(data: Uint8Array | string): T {
  const text = typeof data === 'string' ? data : decoder.decode(data);
  // A plain parse and one walk over the result: V8's JSON.parse is several times faster
  // without a reviver (measured on payment snapshots), and the walk only looks at keys.
  return revive(JSON.parse(text)) as T;
}

function revive(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) value[i] = revive(value[i]);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const field = record[key];
    record[key] = typeof field === 'object' && field !== null ? revive(field) : reviver(key, field);
  }
  return record;
}
