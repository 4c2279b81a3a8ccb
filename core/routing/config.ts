// The routing table's JSON form (the declarative file under ops/, and what Redis stores) and
// its validation. Every parse collects all violations, named by path (`channels[2].fee.rate_bp`),
// so a bad file is refused whole with every problem listed at once. Money is a decimal string
// in JSON (`*_minor`), bigint in memory.

import type { FieldViolation } from '../errors';
import {
  amount_minor_max, cap_amount_minor_max, cap_count_max, channels_max,
  merchants_max, service_ranges_max,
} from './constants';
import {
  channel_states, limit_names, payer_element_names, product_names, weekdays,
  type ChannelLimits, type ChannelState, type PayerElementName, type ProductName,
  type RoutingChannel, type ServiceWindows, type TimeRange, type Weekday,
} from './types';
import { isTimeZone, parseClock } from './windows';
import { Reader, feeToJson, id_pattern, id_rule, readFee } from './reader';
import { readApps, type App } from './apps';
import { readMerchant, type MerchantInput } from '../merchants/records';
import { risk_rules_max } from '../constants';
import { readRiskRule, type RiskRule } from '../risk/rules';

const provider_pattern = /^[a-z0-9_]{1,32}$/;
const currency_pattern = /^[A-Z]{3}$/;

type Json = Record<string, unknown>;

// ---- service windows ----------------------------------------------------------------------

function readRange(r: Reader, value: unknown, field: string): TimeRange | undefined {
  const o = r.object(value, field, ['days', 'start', 'end']);
  if (o === undefined) return undefined;
  const days = o.days === undefined ? [] : r.list(o.days, `${field}.days`, 7, (v, f) =>
    typeof v === 'string' && weekdays.includes(v as Weekday) ? (v as Weekday) : r.bad(f, `must be one of ${weekdays.join(', ')}`));
  const start = typeof o.start === 'string' && parseClock(o.start) !== undefined ? o.start : r.bad(`${field}.start`, "must be 'HH:MM' (00:00 to 23:59)");
  const end = typeof o.end === 'string' && parseClock(o.end, true) !== undefined ? o.end : r.bad(`${field}.end`, "must be 'HH:MM' (00:00 to 24:00)");
  if (days === undefined || start === undefined || end === undefined) return undefined;
  return { days, start, end };
}

function readWindows(r: Reader, value: unknown, field: string): ServiceWindows | undefined {
  if (value === undefined) return { time_zone: 'Asia/Shanghai', open: [], closed: [] };
  const o = r.object(value, field, ['time_zone', 'open', 'closed']);
  if (o === undefined) return undefined;
  const time_zone = typeof o.time_zone === 'string' && isTimeZone(o.time_zone) ? o.time_zone : r.bad(`${field}.time_zone`, 'must be an IANA time zone, e.g. Asia/Shanghai');
  const open = o.open === undefined ? [] : r.list(o.open, `${field}.open`, service_ranges_max, (v, f) => readRange(r, v, f));
  const closed = o.closed === undefined ? [] : r.list(o.closed, `${field}.closed`, service_ranges_max, (v, f) => readRange(r, v, f));
  if (time_zone === undefined || open === undefined || closed === undefined) return undefined;
  return { time_zone, open, closed };
}

// ---- channels -----------------------------------------------------------------------------

const channel_fields = [
  'channel_id', 'provider', 'state', 'products', 'currencies', 'amount_min_minor', 'amount_max_minor',
  'service_windows', 'required_payer_elements', 'limits', 'fee', 'priority', 'weight',
];

function readLimits(r: Reader, value: unknown, field: string): ChannelLimits | undefined {
  if (value === undefined) return {};
  const o = r.object(value, field, limit_names);
  if (o === undefined) return undefined;
  const limits: ChannelLimits = {};
  let ok = true;
  for (const name of limit_names) {
    const raw = o[name];
    if (raw === undefined) continue;
    const parsed = name.endsWith('_minor')
      ? r.minor(raw, `${field}.${name}`, 1n, cap_amount_minor_max)
      : r.integer(raw, `${field}.${name}`, 1, cap_count_max);
    if (parsed === undefined) ok = false;
    else (limits as Record<string, bigint | number>)[name] = parsed;
  }
  return ok ? limits : undefined;
}

function readRequiredElements(r: Reader, value: unknown, field: string, products: readonly ProductName[] | undefined): RoutingChannel['required_payer_elements'] | undefined {
  if (value === undefined) return {};
  const o = r.object(value, field, product_names);
  if (o === undefined) return undefined;
  const out: RoutingChannel['required_payer_elements'] = {};
  let ok = true;
  for (const [product, list] of Object.entries(o)) {
    if (products !== undefined && !products.includes(product as ProductName)) r.bad(`${field}.${product}`, 'names a product the channel does not serve');
    const elements = r.list(list, `${field}.${product}`, payer_element_names.length, (v, f) =>
      typeof v === 'string' && payer_element_names.includes(v as PayerElementName) ? (v as PayerElementName) : r.bad(f, `must be one of ${payer_element_names.join(', ')}`));
    if (elements === undefined) ok = false;
    else out[product as ProductName] = elements;
  }
  return ok ? out : undefined;
}

/** A channel from its JSON form, or undefined with violations under `field`. */
export function readChannel(value: unknown, field: string, violations: FieldViolation[]): RoutingChannel | undefined {
  const r = new Reader(violations);
  const before = violations.length;
  const p = (name: string) => (field === '' ? name : `${field}.${name}`);
  const o = r.object(value, field, channel_fields);
  if (o === undefined) return undefined;
  const channel_id = r.string(o.channel_id, p('channel_id'), id_pattern, id_rule);
  const provider = r.string(o.provider, p('provider'), provider_pattern, 'must be 1 to 32 characters of a-z, 0-9 or _');
  const state = o.state === undefined ? 'ENABLED' : channel_states.includes(o.state as ChannelState) ? (o.state as ChannelState) : r.bad(p('state'), `must be one of ${channel_states.join(', ')}`);
  const products = r.list(o.products, p('products'), product_names.length, (v, f) => r.product(v, f), true);
  const currencies = r.list(o.currencies, p('currencies'), 16, (v, f) => r.string(v, f, currency_pattern, 'must be an ISO 4217 code in upper case'), true);
  const amount_min_minor = o.amount_min_minor === undefined ? 1n : r.minor(o.amount_min_minor, p('amount_min_minor'), 1n, amount_minor_max);
  const amount_max_minor = o.amount_max_minor === undefined ? amount_minor_max : r.minor(o.amount_max_minor, p('amount_max_minor'), 1n, amount_minor_max);
  if (amount_min_minor !== undefined && amount_max_minor !== undefined && amount_min_minor > amount_max_minor) r.bad(p('amount_min_minor'), 'must not exceed amount_max_minor');
  const service_windows = readWindows(r, o.service_windows, p('service_windows'));
  const required_payer_elements = readRequiredElements(r, o.required_payer_elements, p('required_payer_elements'), products);
  const limits = readLimits(r, o.limits, p('limits'));
  const fee = o.fee === undefined ? r.bad(p('fee'), 'is required') : readFee(r, o.fee, p('fee'));
  const priority = o.priority === undefined ? 0 : r.integer(o.priority, p('priority'), -1_000, 1_000);
  const weight = o.weight === undefined ? 1 : r.integer(o.weight, p('weight'), 0, 1_000);
  // Amount bounds and caps are in minor units of one currency: summing yuan and dollars is meaningless.
  const has_amounts = o.amount_min_minor !== undefined || o.amount_max_minor !== undefined ||
    (limits !== undefined && limit_names.some((n) => n.endsWith('_minor') && limits[n] !== undefined));
  if (has_amounts && currencies !== undefined && currencies.length > 1) r.bad(p('currencies'), 'must be a single currency when amount bounds or amount caps are set');
  if (violations.length > before) return undefined;
  return {
    channel_id: channel_id!, provider: provider!, state: state!, products: products!, currencies: currencies!,
    amount_min_minor: amount_min_minor!, amount_max_minor: amount_max_minor!, service_windows: service_windows!,
    required_payer_elements: required_payer_elements!, limits: limits!, fee: fee!, priority: priority!, weight: weight!,
  };
}

export function channelToJson(c: RoutingChannel): Json {
  const limits: Json = {};
  for (const name of limit_names) {
    const v = c.limits[name];
    if (v !== undefined) limits[name] = typeof v === 'bigint' ? v.toString() : v;
  }
  return {
    channel_id: c.channel_id,
    provider: c.provider,
    state: c.state,
    products: [...c.products],
    currencies: [...c.currencies],
    amount_min_minor: c.amount_min_minor.toString(),
    amount_max_minor: c.amount_max_minor.toString(),
    service_windows: {
      time_zone: c.service_windows.time_zone,
      open: c.service_windows.open.map((r) => ({ days: [...r.days], start: r.start, end: r.end })),
      closed: c.service_windows.closed.map((r) => ({ days: [...r.days], start: r.start, end: r.end })),
    },
    required_payer_elements: Object.fromEntries(Object.entries(c.required_payer_elements).map(([k, v]) => [k, [...(v ?? [])]])),
    limits,
    fee: feeToJson(c.fee),
    priority: c.priority,
    weight: c.weight,
  };
}

// ---- the whole table ----------------------------------------------------------------------

export interface ParsedTable {
  channels: RoutingChannel[];
  merchants: MerchantInput[];
  /** Absent when the file has no `apps`: the stored apps are then left as they are. */
  apps?: App[];
  /** Absent when the file has no `risk_rules`: the stored rules are then left as they are. */
  risk_rules?: RiskRule[];
}

/** The declarative file's content. `has_secret(merchant_id)` says whether the table already
 * holds a notify secret for a merchant (a new merchant must bring one). */
export function readTable(value: unknown, has_secret: (merchant_id: string) => boolean): { table?: ParsedTable; violations: FieldViolation[] } {
  const violations: FieldViolation[] = [];
  const r = new Reader(violations);
  const o = r.object(value, '', ['version', 'channels', 'merchants', 'apps', 'risk_rules']);
  if (o === undefined) return { violations };
  if (o.version !== 1) r.bad('version', 'must be 1');
  const channels: RoutingChannel[] = [];
  const merchants: MerchantInput[] = [];
  if (!Array.isArray(o.channels)) r.bad('channels', 'must be an array');
  else if (o.channels.length > channels_max) r.bad('channels', `must have at most ${channels_max} entries`);
  else o.channels.forEach((c, i) => {
    const parsed = readChannel(c, `channels[${i}]`, violations);
    if (parsed !== undefined) channels.push(parsed);
  });
  if (!Array.isArray(o.merchants)) r.bad('merchants', 'must be an array');
  else if (o.merchants.length > merchants_max) r.bad('merchants', `must have at most ${merchants_max} entries`);
  else o.merchants.forEach((m, i) => {
    const parsed = readMerchant(m, `merchants[${i}]`, violations);
    if (parsed !== undefined) merchants.push(parsed);
  });
  // Cross-references, by entry: ids unique, merchants contracted only on channels in the file.
  const channel_index = new Map<string, number>();
  (Array.isArray(o.channels) ? o.channels : []).forEach((c: unknown, i: number) => {
    const id = (c as Json | null)?.channel_id;
    if (typeof id !== 'string') return;
    if (channel_index.has(id)) r.bad(`channels[${i}].channel_id`, `repeats channels[${channel_index.get(id)}]`);
    else channel_index.set(id, i);
  });
  const merchant_index = new Map<string, number>();
  (Array.isArray(o.merchants) ? o.merchants : []).forEach((m: unknown, i: number) => {
    const j = m as Json | null;
    const id = j?.merchant_id;
    if (typeof id !== 'string') return;
    if (merchant_index.has(id)) r.bad(`merchants[${i}].merchant_id`, `repeats merchants[${merchant_index.get(id)}]`);
    else merchant_index.set(id, i);
    if (Array.isArray(j?.channel_ids)) {
      (j.channel_ids as unknown[]).forEach((c, k) => {
        if (typeof c === 'string' && !channel_index.has(c)) r.bad(`merchants[${i}].channel_ids[${k}]`, `names channel ${c}, which the file does not define`);
      });
    }
    if (j?.notify_secret === undefined && !has_secret(id)) r.bad(`merchants[${i}].notify_secret`, 'is required for a new merchant');
  });
  const apps = o.apps === undefined ? undefined : readApps(o.apps, violations);
  const risk_rules = o.risk_rules === undefined ? undefined : readRiskRules(r, o.risk_rules);
  if (violations.length > 0) return { violations };
  return { table: { channels, merchants, ...(apps === undefined ? {} : { apps }), ...(risk_rules === undefined ? {} : { risk_rules }) }, violations };
}

function readRiskRules(r: Reader, value: unknown): RiskRule[] | undefined {
  const rules = r.list(value, 'risk_rules', risk_rules_max, (v, f) => readRiskRule(v, f, r.violations));
  const seen = new Map<string, number>();
  rules?.forEach((rule, i) => {
    if (seen.has(rule.rule_id)) r.bad(`risk_rules[${i}].rule_id`, `repeats risk_rules[${seen.get(rule.rule_id)}]`);
    else seen.set(rule.rule_id, i);
  });
  return rules;
}
