// gRPC handlers of RoutingAdminService and MerchantAdminService over routing's parts. Register
// them with `server.addService(routing_admin_service, services.routing)` and
// `server.addService(merchant_admin_service, services.merchants)`.
//
// admin.proto is generated as generic definitions (buf.gen.admin.yaml): a grpc-js client class
// cannot have a `getChannel` RPC method, since grpc-js Client.getChannel() exists. The grpc-js
// service definitions are built here from the generic ones.
//
// Validation is the routing table's own (core/routing/config.ts), so the declarative file
// and the API refuse the same things; field paths are translated to the proto's names.

import * as grpc from '@grpc/grpc-js';
import {
  type ChannelLimits as WireLimits,
  type ExplainRouteResponse, type GetChannelResponse, type GetMerchantResponse, type SetChannelStateResponse, type UpsertChannelResponse,
  type UpsertMerchantResponse,
  type ExplainRouteRequest,
  type FeeRule as WireFee,
  type Merchant as WireMerchant,
  MerchantAdminServiceDefinition,
  RoutingAdminServiceDefinition,
  type GetChannelRequest, type GetMerchantRequest, type ListChannelsRequest, type ListChannelsResponse, type SetChannelStateRequest,
  type UpsertChannelRequest, type UpsertMerchantRequest,
  type RouteDecision as WireDecision,
  type RoutingChannel as WireChannel,
} from '../../proto/gen/paycore/v1/admin';
import { Product } from '../../proto/gen/paycore/v1/payment';
import { channelStateFromWire, channelStateToWire, productFromWire, productToWire } from './wire-enums';
import { amount_minor_max } from '../constants';
import { invalidFields, PaycoreError, toServiceError, type FieldViolation } from '../errors';
import type { Logger } from '../log';
import {
  type ChannelLimits, type ChannelState, type FeeRule, type PayerElementName,
  type ProductName, type RouteDecision, type RouteOrder, type RoutingChannel, type Routing,
} from '../routing';
import type { MerchantInput, MerchantView } from '../merchants/records';

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: unknown): T;
}

interface GenericMethod {
  name: string;
  requestType: Codec<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  responseType: Codec<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  requestStream: boolean;
  responseStream: boolean;
}

export function grpcDefinition(definition: { fullName: string; methods: Record<string, GenericMethod> }): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [key, m] of Object.entries(definition.methods)) {
    out[key] = {
      path: `/${definition.fullName}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      // A client's request through fromPartial: a field the caller's object lacks (one added to
      // the contract after the caller was written) is sent unset, never as the text "undefined".
      requestSerialize: (v: unknown) => Buffer.from(m.requestType.encode(m.requestType.fromPartial(v)).finish()),
      requestDeserialize: (b: Buffer) => m.requestType.decode(b),
      responseSerialize: (v: unknown) => Buffer.from(m.responseType.encode(v).finish()),
      responseDeserialize: (b: Buffer) => m.responseType.decode(b),
      originalName: key,
    };
  }
  return out as grpc.ServiceDefinition;
}

/** grpc-js service definitions of paycore.v1.RoutingAdminService and MerchantAdminService. */
export const routing_admin_service = grpcDefinition(RoutingAdminServiceDefinition);
export const merchant_admin_service = grpcDefinition(MerchantAdminServiceDefinition);

interface RoutingAdminServiceServer extends grpc.UntypedServiceImplementation {
  upsertChannel: grpc.handleUnaryCall<UpsertChannelRequest, UpsertChannelResponse>;
  getChannel: grpc.handleUnaryCall<GetChannelRequest, GetChannelResponse>;
  listChannels: grpc.handleUnaryCall<ListChannelsRequest, ListChannelsResponse>;
  setChannelState: grpc.handleUnaryCall<SetChannelStateRequest, SetChannelStateResponse>;
  explainRoute: grpc.handleUnaryCall<ExplainRouteRequest, ExplainRouteResponse>;
}

interface MerchantAdminServiceServer extends grpc.UntypedServiceImplementation {
  upsertMerchant: grpc.handleUnaryCall<UpsertMerchantRequest, UpsertMerchantResponse>;
  getMerchant: grpc.handleUnaryCall<GetMerchantRequest, GetMerchantResponse>;
}

export interface AdminServices {
  routing: RoutingAdminServiceServer;
  merchants: MerchantAdminServiceServer;
}

type Callback<T> = grpc.sendUnaryData<T>;

/** A unary admin handler: PaycoreErrors go out as their status, anything else as INTERNAL. */
export function adminUnary(log: Logger | undefined) {
  return <Req, Res>(method: string, run: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res) =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: Callback<Res>): void => {
      void (async () => {
        try {
          callback(null, await run(call.request, call));
        } catch (error) {
          if (error instanceof PaycoreError) {
            callback(toServiceError(renamed(error)) as grpc.ServiceError, null);
            return;
          }
          log?.error({ method, err: String(error) }, 'admin call failed');
          callback(toServiceError(new PaycoreError('INTERNAL', 'internal error')) as grpc.ServiceError, null);
        }
      })();
    };
}

export function adminServices(table: Pick<Routing, 'cache' | 'admin' | 'decisions' | 'merchants'>, log?: Logger): AdminServices {
  const unary = adminUnary(log);
  return {
    routing: {
      upsertChannel: unary('UpsertChannel', async (request) => {
        const wire = request.channel;
        if (wire === undefined) throw invalidFields([{ field: 'channel', description: 'is required' }]);
        const current = table.cache.listChannels().find((c) => c.channel_id === wire.channelId);
        return { channel: toWireChannel(await table.admin.upsertChannel(fromWireChannel(wire, current?.state ?? 'ENABLED'))) };
      }),
      getChannel: unary('GetChannel', (request) => ({ channel: toWireChannel(table.cache.getChannel(request.channelId)) })),
      listChannels: unary('ListChannels', (request) => {
        const product = request.product === Product.PRODUCT_UNSPECIFIED ? undefined : productOf(request.product, 'product');
        return { channels: table.cache.listChannels().filter((c) => product === undefined || c.products.includes(product)).map(toWireChannel) };
      }),
      setChannelState: unary('SetChannelState', async (request) => {
        const state = channelStateFromWire(request.state);
        if (state === undefined) throw invalidFields([{ field: 'state', description: 'must be CHANNEL_STATE_ENABLED, CHANNEL_STATE_DISABLED or CHANNEL_STATE_DRAINING' }]);
        return { channel: toWireChannel(await table.admin.setChannelState(request.channelId, state)) };
      }),
      explainRoute: unary('ExplainRoute', async (request) => ({ decision: toWireDecision(await table.decisions.explain(fromExplainRequest(request))) })),
    },
    merchants: {
      upsertMerchant: unary('UpsertMerchant', async (request) => {
        const wire = request.merchant;
        if (wire === undefined) throw invalidFields([{ field: 'merchant', description: 'is required' }]);
        return { merchant: toWireMerchant(await table.merchants.upsertMerchant(fromWireMerchant(wire))) };
      }),
      getMerchant: unary('GetMerchant', (request) => ({ merchant: toWireMerchant(table.merchants.getMerchant(request.merchantId)) })),
    },
  };
}

/** The routing table names money fields `*_minor` (its JSON form); the proto does not. */
function renamed(error: PaycoreError): PaycoreError {
  if (error.violations.length === 0) return error;
  const violations = error.violations.map((v) => ({ ...v, field: v.field.replace(/_minor\b/g, '') }));
  return error.reason === 'INVALID_FIELD' ? invalidFields(violations) : error;
}

// ---- wire → routing ---------------------------------------------------------------------

function productOf(product: Product, field: string): ProductName {
  const name = productFromWire(product);
  if (name === undefined) throw invalidFields([{ field, description: 'must be a known product' }]);
  return name;
}

function fromWireFee(fee: WireFee | undefined): FeeRule {
  const rule: FeeRule = { rate_bp: fee?.rateBp ?? 0, fixed_minor: fee?.fixed ?? 0n, min_minor: fee?.min ?? 0n };
  if (fee?.max !== undefined) rule.max_minor = fee.max;
  return rule;
}

function fromWireLimits(l: WireLimits | undefined): ChannelLimits {
  const out: ChannelLimits = {};
  if (l === undefined) return out;
  if (l.dayAmount !== undefined) out.day_amount_minor = l.dayAmount;
  if (l.dayCount !== undefined) out.day_count = l.dayCount;
  if (l.monthAmount !== undefined) out.month_amount_minor = l.monthAmount;
  if (l.monthCount !== undefined) out.month_count = l.monthCount;
  if (l.cardDayAmount !== undefined) out.card_day_amount_minor = l.cardDayAmount;
  if (l.cardDayCount !== undefined) out.card_day_count = l.cardDayCount;
  if (l.cardMonthAmount !== undefined) out.card_month_amount_minor = l.cardMonthAmount;
  if (l.cardMonthCount !== undefined) out.card_month_count = l.cardMonthCount;
  return out;
}

function fromWireChannel(w: WireChannel, state_default: ChannelState): RoutingChannel {
  const violations: FieldViolation[] = [];
  const product = (p: Product, field: string): ProductName | undefined => {
    const name = productFromWire(p);
    if (name === undefined) violations.push({ field, description: 'must be a known product' });
    return name;
  };
  const products = w.products.map((p, i) => product(p, `channel.products[${i}]`));
  const required: RoutingChannel['required_payer_elements'] = {};
  w.requiredPayerElements.forEach((r, i) => {
    const name = product(r.product, `channel.required_payer_elements[${i}].product`);
    if (name !== undefined) required[name] = r.elements as PayerElementName[];
  });
  if (violations.length > 0) throw invalidFields(violations);
  return {
    channel_id: w.channelId,
    provider: w.provider,
    state: channelStateFromWire(w.state) ?? state_default,
    products: products as ProductName[],
    currencies: w.currencies,
    amount_min_minor: w.amountMin === 0n ? 1n : w.amountMin,
    amount_max_minor: w.amountMax === 0n ? amount_minor_max : w.amountMax,
    service_windows: {
      time_zone: w.serviceWindows?.timeZone || 'Asia/Shanghai',
      open: (w.serviceWindows?.open ?? []).map((r) => ({ days: r.days as RoutingChannel['service_windows']['open'][number]['days'], start: r.start, end: r.end })),
      closed: (w.serviceWindows?.closed ?? []).map((r) => ({ days: r.days as RoutingChannel['service_windows']['open'][number]['days'], start: r.start, end: r.end })),
    },
    required_payer_elements: required,
    limits: fromWireLimits(w.limits),
    fee: fromWireFee(w.fee),
    priority: w.priority,
    weight: w.weight,
  };
}

function fromWireMerchant(w: WireMerchant): MerchantInput {
  const violations: FieldViolation[] = [];
  const products = w.products.map((p, i) => {
    const name = productFromWire(p);
    if (name === undefined) violations.push({ field: `merchant.products[${i}]`, description: 'must be a known product' });
    return name as ProductName;
  });
  const fee_rates: MerchantInput['fee_rates'] = {};
  w.feeRates.forEach((r, i) => {
    const name = productFromWire(r.product);
    if (name === undefined) violations.push({ field: `merchant.fee_rates[${i}].product`, description: 'must be a known product' });
    else fee_rates[name] = fromWireFee(r.fee);
  });
  if (violations.length > 0) throw invalidFields(violations);
  const merchant: MerchantInput = { merchant_id: w.merchantId, products, channel_ids: w.channelIds, fee_rates };
  if (w.notifySecret !== '') merchant.notify_secret = w.notifySecret;
  if (w.groupId !== '') merchant.group_id = w.groupId;
  const limits = w.payoutLimits;
  if (limits !== undefined) {
    // 0: the deployment's default; anything else is the record's reader's to judge (merchant.payout_limits.*).
    const set = Object.entries({
      member_withdrawal_max_minor: limits.memberWithdrawalMax, member_withdrawal_daily_max_minor: limits.memberWithdrawalDailyMax,
      transfer_max_minor: limits.transferMax, transfer_daily_max_minor: limits.transferDailyMax,
    }).filter(([, value]) => value !== 0n);
    if (set.length > 0) merchant.payout_limits = Object.fromEntries(set);
  }
  return merchant;
}

function fromExplainRequest(r: ExplainRouteRequest): RouteOrder {
  const violations: FieldViolation[] = [];
  const product = productFromWire(r.product);
  if (product === undefined) violations.push({ field: 'product', description: 'must be a known product' });
  if (r.amount < 1n || r.amount > amount_minor_max) violations.push({ field: 'amount', description: `must be between 1 and ${amount_minor_max} minor units` });
  if (!/^[A-Z]{3}$/.test(r.currency)) violations.push({ field: 'currency', description: 'must be an ISO 4217 code in upper case' });
  if (violations.length > 0) throw invalidFields(violations);
  const order: RouteOrder = {
    payment_id: '',
    merchant_id: r.merchantId,
    product: product!,
    amount_minor: r.amount,
    currency: r.currency,
    payer_elements_present: r.payerElementsPresent,
    include_channels: r.routeHints?.includeChannels ?? [],
    exclude_channels: r.routeHints?.excludeChannels ?? [],
  };
  if (r.cardToken !== '') order.card_token = r.cardToken;
  if (r.at !== undefined) order.now = r.at;
  return order;
}

// ---- routing → wire ---------------------------------------------------------------------

function toWireFee(f: FeeRule): WireFee {
  const fee: WireFee = { rateBp: f.rate_bp, fixed: f.fixed_minor, min: f.min_minor };
  if (f.max_minor !== undefined) fee.max = f.max_minor;
  return fee;
}

function toWireChannel(c: RoutingChannel): WireChannel {
  const l = c.limits;
  return {
    channelId: c.channel_id,
    provider: c.provider,
    state: channelStateToWire(c.state),
    products: c.products.map(productToWire),
    currencies: [...c.currencies],
    amountMin: c.amount_min_minor,
    amountMax: c.amount_max_minor,
    serviceWindows: {
      timeZone: c.service_windows.time_zone,
      open: c.service_windows.open.map((r) => ({ days: [...r.days], start: r.start, end: r.end })),
      closed: c.service_windows.closed.map((r) => ({ days: [...r.days], start: r.start, end: r.end })),
    },
    requiredPayerElements: Object.entries(c.required_payer_elements).map(([p, elements]) => ({
      product: productToWire(p as ProductName),
      elements: [...(elements ?? [])],
    })),
    limits: {
      dayAmount: l.day_amount_minor, dayCount: l.day_count, monthAmount: l.month_amount_minor, monthCount: l.month_count,
      cardDayAmount: l.card_day_amount_minor, cardDayCount: l.card_day_count, cardMonthAmount: l.card_month_amount_minor, cardMonthCount: l.card_month_count,
    },
    fee: toWireFee(c.fee),
    priority: c.priority,
    weight: c.weight,
  };
}

function toWireMerchant(m: MerchantView): WireMerchant {
  return {
    merchantId: m.merchant_id,
    products: m.products.map(productToWire),
    channelIds: [...m.channel_ids],
    feeRates: Object.entries(m.fee_rates).map(([p, fee]) => ({ product: productToWire(p as ProductName), fee: toWireFee(fee!) })),
    notifySecret: '',
    notifySecretFingerprint: m.notify_secret_fingerprint,
    notifySecretLast4: m.notify_secret_last4,
    groupId: m.group_id ?? '',
    payoutLimits: m.payout_limits === undefined ? undefined : {
      memberWithdrawalMax: m.payout_limits.member_withdrawal_max_minor ?? 0n, memberWithdrawalDailyMax: m.payout_limits.member_withdrawal_daily_max_minor ?? 0n,
      transferMax: m.payout_limits.transfer_max_minor ?? 0n, transferDailyMax: m.payout_limits.transfer_daily_max_minor ?? 0n,
    },
  };
}

function toWireDecision(d: RouteDecision): WireDecision {
  return {
    chosenChannelId: d.chosen?.channel_id ?? '',
    fee: d.chosen?.fee_minor ?? 0n,
    probe: d.chosen?.probe ?? false,
    explored: d.chosen?.explored ?? false,
    candidates: d.candidates.map((c) => ({
      channelId: c.channel_id,
      status: c.status,
      score: c.score,
      fee: c.fee_minor,
      health: {
        successes: c.health.successes, systemErrors: c.health.system_errors, timeouts: c.health.timeouts, payerDeclines: c.health.payer_declines,
        successRate: c.success_rate, timeoutRate: c.timeout_rate, latencyMs: c.latency_ms,
      },
      circuit: c.circuit,
      probe: c.probe,
    })),
    excluded: d.excluded.map((e) => ({ channelId: e.channel_id, reason: e.reason, detail: e.detail })),
  };
}
