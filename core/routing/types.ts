// The routing table's vocabulary: channel and merchant records as paycore holds them in
// memory (money as bigint minor units), the order a decision is made for, and the decision.

import type { ProductName } from '../../channels/channel';
import type { ReservationRef } from '../events/types';

export type { ProductName };

export const product_names: readonly ProductName[] = [
  'WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5',
  'ALIPAY_QR', 'ALIPAY_APP', 'ALIPAY_WAP', 'ALIPAY_PC',
  'UNIONPAY_QUICK', 'BANK_B2C', 'BANK_B2B', 'BARCODE',
];

/** DRAINING: finishes what it has, takes no new payments (same as DISABLED for routing). */
export type ChannelState = 'ENABLED' | 'DISABLED' | 'DRAINING';
export const channel_states: readonly ChannelState[] = ['ENABLED', 'DISABLED', 'DRAINING'];

/** Names of PayerElements (channels/channel.ts) a channel may require per product. */
export type PayerElementName = 'client_ip' | 'openid' | 'auth_code' | 'card_token' | 'bank_code';
export const payer_element_names: readonly PayerElementName[] = ['client_ip', 'openid', 'auth_code', 'card_token', 'bank_code'];

export type Weekday = 'MON' | 'TUE' | 'WED' | 'THU' | 'FRI' | 'SAT' | 'SUN';
export const weekdays: readonly Weekday[] = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];

/** A daily time range in the windows' time zone. `end <= start` spans midnight; `days`
 * (empty: every day) name the day the range starts on. */
export interface TimeRange {
  days: Weekday[];
  /** 'HH:MM', 00:00–23:59. */
  start: string;
  end: string;
}

/** Eligible when inside one `open` range (or `open` is empty) and inside no `closed` one. */
export interface ServiceWindows {
  /** IANA zone, e.g. 'Asia/Shanghai'. */
  time_zone: string;
  open: TimeRange[];
  closed: TimeRange[];
}

/** Caps on reserved volume; undefined means no cap. Days and months are calendar days in
 * the table's limits time zone (RoutingOptions.limits_time_zone). */
export interface ChannelLimits {
  day_amount_minor?: bigint;
  day_count?: number;
  month_amount_minor?: bigint;
  month_count?: number;
  card_day_amount_minor?: bigint;
  card_day_count?: number;
  card_month_amount_minor?: bigint;
  card_month_count?: number;
}

export const limit_names = [
  'day_amount_minor', 'day_count', 'month_amount_minor', 'month_count',
  'card_day_amount_minor', 'card_day_count', 'card_month_amount_minor', 'card_month_count',
] as const satisfies readonly (keyof ChannelLimits)[];

/** fee = clamp(round_half_up(amount × rate_bp / 10 000) + fixed, min, max). */
export interface FeeRule {
  rate_bp: number;
  fixed_minor: bigint;
  min_minor: bigint;
  /** undefined: no maximum. */
  max_minor?: bigint;
}

export interface RoutingChannel {
  channel_id: string;
  provider: string;
  state: ChannelState;
  products: ProductName[];
  currencies: string[];
  /** Per-order bounds, inclusive. */
  amount_min_minor: bigint;
  amount_max_minor: bigint;
  service_windows: ServiceWindows;
  required_payer_elements: Partial<Record<ProductName, PayerElementName[]>>;
  limits: ChannelLimits;
  fee: FeeRule;
  /** Operator bias added to the score (score points per priority unit, see scoring.ts). */
  priority: number;
  /** Relative share among exploration picks. */
  weight: number;
}

export interface RouteOrder {
  payment_id: string;
  merchant_id: string;
  product: ProductName;
  amount_minor: bigint;
  currency: string;
  /** Names of the payer elements the order carries (values stay with the caller). */
  payer_elements_present: readonly string[];
  /** UNIONPAY_QUICK: the bound card's token, for per-card caps. Hashed before any key. */
  card_token?: string;
  include_channels: readonly string[];
  exclude_channels: readonly string[];
  /** Channels already tried for this payment (failover): never chosen again. */
  exclude_attempted?: readonly string[];
  now?: Date;
}

/** Why a channel cannot take an order. Static ones come from the cached configuration;
 * the rest from Redis in the decision's round trip. */
type StaticExclusion =
  | 'NOT_ENABLED' | 'DRAINING' | 'PRODUCT' | 'CURRENCY' | 'NOT_CONTRACTED' | 'MERCHANT_PRODUCT'
  | 'EXCLUDED_BY_HINT' | 'NOT_IN_INCLUDE' | 'ALREADY_ATTEMPTED'
  | 'AMOUNT_BELOW_MIN' | 'AMOUNT_ABOVE_MAX' | 'OUTSIDE_WINDOW' | 'PAYER_ELEMENT_MISSING';

export type LiveExclusion =
  | 'CIRCUIT_OPEN' | 'CIRCUIT_PROBES_BUSY'
  | 'DAILY_AMOUNT_CAP' | 'DAILY_COUNT_CAP' | 'MONTHLY_AMOUNT_CAP' | 'MONTHLY_COUNT_CAP'
  | 'CARD_DAILY_AMOUNT_CAP' | 'CARD_DAILY_COUNT_CAP' | 'CARD_MONTHLY_AMOUNT_CAP' | 'CARD_MONTHLY_COUNT_CAP';

export type ExclusionReason = StaticExclusion | LiveExclusion | 'UNKNOWN_MERCHANT';

export interface Exclusion {
  channel_id: string;
  reason: ExclusionReason;
  detail: string;
}

export type CircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** Live health over the sliding window, as the decision's script read it. */
export interface HealthSnapshot {
  successes: number;
  system_errors: number;
  timeouts: number;
  payer_declines: number;
  latency_ms_sum: number;
  latency_count: number;
}

export interface Candidate {
  channel_id: string;
  /** CHOSEN, ELIGIBLE (passed every check, scored lower or not explored) or the live reason
   * it was excluded (also listed in `excluded`). */
  status: 'CHOSEN' | 'ELIGIBLE' | LiveExclusion;
  fee_minor: bigint;
  /** Higher is better (scoring.ts). */
  score: number;
  success_rate: number;
  latency_ms: number;
  timeout_rate: number;
  health: HealthSnapshot;
  circuit: CircuitState;
  /** Chosen as a half-open circuit's probe. */
  probe: boolean;
}

/** What release() needs, as plain JSON: it travels in a payment event so any process can
 * release it. Amounts are decimal strings. */
export interface Reservation {
  reservation_id: string;
  channel_id: string;
  amount_minor: string;
  /** Calendar day and month (limits time zone) whose counters hold the reservation. */
  day: string;
  month: string;
  /** Hex digest of the card token when per-card counters were reserved. */
  card_digest?: string;
}

/** What release and commit need (core/events/types.ts: payment events carry it). */
export type { ReservationRef };

export interface RouteDecision {
  chosen?: { channel_id: string; fee_minor: bigint; reservation?: Reservation; probe: boolean; explored: boolean };
  /** Channels that passed static eligibility with their live data: the chosen one first,
   * then the other eligible ones by score, then those the live checks excluded. */
  candidates: Candidate[];
  excluded: Exclusion[];
}

type OutcomeKind = 'success' | 'payer_decline' | 'system_error' | 'timeout';

export interface Outcome {
  kind: OutcomeKind;
  latency_ms: number;
  at?: Date;
  /** Which call: creating the provider order (pay, confirm) or asking about it (query).
   * Each is judged on its own, so the queries a hung create causes cannot dilute its
   * failures. Default create. */
  operation?: 'create' | 'query';
  /** When the call started (default: at − latency). A half-open circuit counts only calls
   * started after it became half-open. */
  started_at?: Date;
}
