// The sandbox's own value formats, written from the providers' documentation and not imported
// from the adapters (channels/), so that a conversion mistake made in an adapter is not made
// the same way here and hidden: amounts in yuan, China-time timestamps in each provider's
// shape, calendar dates, CSV cells, and UnionPay's `k=v&…` message body with its `{…}` values.
// The names and signatures are the ones the sandbox used to import; formats.test.ts holds each
// to the documentation's examples.

// ---- amounts ---------------------------------------------------------------------------------

/** Fen → yuan with exactly two decimals (Alipay total_amount, the bank gateway, the bills): 8888 → "88.88". */
export function formatYuan(fen: bigint): string {
  const digits = (fen < 0n ? -fen : fen).toString().padStart(3, '0');
  return `${fen < 0n ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** Yuan with at most two decimals → fen ("88.8" → 8880, "-0.05" → -5); undefined otherwise. */
export function parseYuan(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  const negative = trimmed.startsWith('-');
  const [whole, fraction, ...rest] = (negative ? trimmed.slice(1) : trimmed).split('.');
  if (rest.length > 0 || whole === undefined || !/^\d{1,15}$/.test(whole)) return undefined;
  if (fraction !== undefined && !/^\d{1,2}$/.test(fraction)) return undefined;
  const fen = BigInt(whole) * 100n + BigInt(`${fraction ?? ''}00`.slice(0, 2));
  return negative ? -fen : fen;
}

/** UnionPay txnAmt: an integer of fen, 1 to 12 digits. */
export function parseFen(text: string | undefined): bigint | undefined {
  return text !== undefined && /^\d{1,12}$/.test(text) ? BigInt(text) : undefined;
}

// ---- China time (UTC+8, no daylight saving) ---------------------------------------------------

const china_offset_ms = 8 * 3_600_000;

/** The wall-clock fields of an instant in China. */
function chinaFields(date: Date): { year: string; month: string; day: string; hour: string; minute: string; second: string } {
  const china = new Date(date.getTime() + china_offset_ms);
  if (Number.isNaN(china.getTime())) throw new Error('invalid date');
  const two = (n: number): string => String(n).padStart(2, '0');
  return {
    year: String(china.getUTCFullYear()).padStart(4, '0'), month: two(china.getUTCMonth() + 1), day: two(china.getUTCDate()),
    hour: two(china.getUTCHours()), minute: two(china.getUTCMinutes()), second: two(china.getUTCSeconds()),
  };
}

/** The instant of a China wall-clock time, or undefined when the fields name no real time
 * (a 30 February, a 24th hour). */
function fromChina(year: string, month: string, day: string, hour: string, minute: string, second: string): Date | undefined {
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s) - china_offset_ms);
  const back = chinaFields(at);
  const same = back.year === year && back.month === month && back.day === day && back.hour === hour && back.minute === minute && back.second === second;
  return same ? at : undefined;
}

/** The China calendar date (YYYY-MM-DD) of an instant: the providers cut bills at 00:00 China time. */
export function chinaDate(date: Date): string {
  const f = chinaFields(date);
  return `${f.year}-${f.month}-${f.day}`;
}

/** "yyyy-MM-dd HH:mm:ss" (Alipay's timestamp, gmt_payment; the bills' time columns). */
export function chinaDateTime(date: Date): string {
  const f = chinaFields(date);
  return `${f.year}-${f.month}-${f.day} ${f.hour}:${f.minute}:${f.second}`;
}

export function parseChinaDateTime(text: string | undefined): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec((text ?? '').trim());
  return m === null ? undefined : fromChina(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!);
}

/** "yyyyMMddHHmmss" (WeChat Pay v2 time_end/time_expire, UnionPay txnTime, the bank gateway). */
export function compactChinaTime(date: Date): string {
  const f = chinaFields(date);
  return `${f.year}${f.month}${f.day}${f.hour}${f.minute}${f.second}`;
}

export function parseCompactChinaTime(text: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text ?? '');
  return m === null ? undefined : fromChina(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!);
}

/** RFC 3339 at China's offset, whole seconds (WeChat Pay v3): "2018-06-08T10:34:56+08:00". */
export function toChinaTime(date: Date): string {
  const f = chinaFields(date);
  return `${f.year}-${f.month}-${f.day}T${f.hour}:${f.minute}:${f.second}+08:00`;
}

/** Any RFC 3339 date-time (an offset or Z required; fractions allowed). */
export function parseRfc3339(value: string | undefined): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(value ?? '');
  if (m === null) return undefined;
  const at = new Date(value!);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** A calendar date "yyyy-MM-dd" that exists (bill_date). */
export function isCalendarDate(date: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (m === null) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const days_in_month = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= days_in_month;
}

// ---- CSV ---------------------------------------------------------------------------------------

/** One CSV cell (RFC 4180): quoted, quotes doubled, when it holds a quote, comma or line break. */
export function csvField(value: string): string {
  for (const char of value) if (char === '"' || char === ',' || char === '\r' || char === '\n') return `"${value.split('"').join('""')}"`;
  return value;
}

// ---- UnionPay's message body --------------------------------------------------------------------

/** UnionPay's answer body: every field as raw `name=value`, sorted by name, joined by `&`. */
export function formatResponse(fields: Record<string, string>): string {
  const names = Object.keys(fields).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return names.map((name) => `${name}=${fields[name]}`).join('&');
}

/** `name=value&…` → fields, an `&` inside `{…}` or `[…]` belonging to the value (customerInfo,
 * tokenPayData); undefined for a part without a name, a name given twice, or unbalanced brackets. */
export function parseResponse(text: string): Record<string, string> | undefined {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '&' && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    if (char === '{' || char === '[') depth += 1;
    if (char === '}' || char === ']') depth -= 1;
    if (depth < 0) return undefined;
    current += char;
  }
  if (depth !== 0) return undefined;
  parts.push(current);
  const fields: Record<string, string> = {};
  for (const part of parts.filter((p) => p !== '')) {
    const equals = part.indexOf('=');
    const name = part.slice(0, equals);
    if (equals < 1 || Object.hasOwn(fields, name)) return undefined;
    fields[name] = part.slice(equals + 1);
  }
  return fields;
}

/** customerInfo: base64 of `{name=value&…}` (smsCode, phoneNo, …). */
export function parseCustomerInfo(encoded: string | undefined): Record<string, string> | undefined {
  if (encoded === undefined || encoded === '') return undefined;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  return text.length >= 2 && text[0] === '{' && text[text.length - 1] === '}' ? parseResponse(text.slice(1, -1)) : undefined;
}
