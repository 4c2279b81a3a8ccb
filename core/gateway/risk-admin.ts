// RiskAdminService: the risk rules (core/risk), stored in the routing table's configuration
// (durable in the JetStream KV bucket, cached in Redis, hot-reloaded by every process).

import type * as grpc from '@grpc/grpc-js';
import {
  RiskAction as WireRiskAction,
  RiskAdminServiceDefinition,
  RiskDimension as WireRiskDimension,
  RiskKind as WireRiskKind,
  type DeleteRiskRuleRequest,
  type HoldMerchantRequest,
  type HoldMerchantResponse,
  type ListMerchantHoldsRequest,
  type ListMerchantHoldsResponse,
  type MerchantHold,
  type ReleaseMerchantHoldRequest,
  type ReleaseMerchantHoldResponse,
  type ListHeldPaymentsRequest,
  type ListHeldPaymentsResponse,
  type ReleaseHeldPaymentRequest,
  type ReleaseHeldPaymentResponse,
  type RejectHeldPaymentRequest,
  type RejectHeldPaymentResponse,
  type DeleteRiskRuleResponse,
  type ListRiskRulesRequest,
  type ListRiskRulesResponse,
  type RiskRule as WireRiskRule,
  type UpsertRiskRuleRequest,
  type UpsertRiskRuleResponse,
} from '../../proto/gen/paycore/v1/admin';
import { PaycoreError, invalidFields, type FieldViolation } from '../errors';
import type { Hold, LedgerStore } from '../ledger/store';
import { asPaycoreError } from './ledger';
import { isPaymentId } from '../ids';
import type { HeldIndex } from '../risk/held';
import type { OrdersClient } from '../orders/api';
import { toPayment } from './convert';
import type { Logger } from '../log';
import { riskRuleToJson, type RiskRule } from '../risk/rules';
import type { ProductName } from '../routing/types';
import type { RiskRuleStore } from '../risk/rule-store';
import { adminUnary, grpcDefinition } from './admin';
import { productFromWire, productToWire } from './wire-enums';

export const risk_admin_service = grpcDefinition(RiskAdminServiceDefinition);

export interface RiskAdminServiceServer extends grpc.UntypedServiceImplementation {
  listHeldPayments: grpc.handleUnaryCall<ListHeldPaymentsRequest, ListHeldPaymentsResponse>;
  releaseHeldPayment: grpc.handleUnaryCall<ReleaseHeldPaymentRequest, ReleaseHeldPaymentResponse>;
  rejectHeldPayment: grpc.handleUnaryCall<RejectHeldPaymentRequest, RejectHeldPaymentResponse>;
  upsertRiskRule: grpc.handleUnaryCall<UpsertRiskRuleRequest, UpsertRiskRuleResponse>;
  listRiskRules: grpc.handleUnaryCall<ListRiskRulesRequest, ListRiskRulesResponse>;
  deleteRiskRule: grpc.handleUnaryCall<DeleteRiskRuleRequest, DeleteRiskRuleResponse>;
  holdMerchant: grpc.handleUnaryCall<HoldMerchantRequest, HoldMerchantResponse>;
  releaseMerchantHold: grpc.handleUnaryCall<ReleaseMerchantHoldRequest, ReleaseMerchantHoldResponse>;
  listMerchantHolds: grpc.handleUnaryCall<ListMerchantHoldsRequest, ListMerchantHoldsResponse>;
}

/** What the held-payment calls need; absent (unit tests): they answer ILLEGAL_STATE. */
export interface HeldPaymentsDeps {
  held: Pick<HeldIndex, 'list'>;
  orders: Pick<OrdersClient, 'send'>;
}

export function riskAdminService(table: RiskRuleStore, log?: Logger, holds?: HeldPaymentsDeps, books?: LedgerStore): RiskAdminServiceServer {
  const unary = adminUnary(log);
  /** A call on the books: their refusals (and PostgreSQL down) as paycore's reasons. */
  const onBooks = async <T>(run: (store: LedgerStore) => Promise<T>): Promise<T> => {
    if (books === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set): merchant holds need them');
    try {
      return await run(books);
    } catch (error) {
      throw asPaycoreError(error) ?? error;
    }
  };
  const needHolds = (): HeldPaymentsDeps => {
    if (holds === undefined) throw new PaycoreError('ILLEGAL_STATE', 'held payments are not served here');
    return holds;
  };
  const decideHold = async (type: 'release_hold' | 'reject_hold', payment_id: string) => {
    if (!isPaymentId(payment_id)) throw invalidFields([{ field: 'payment_id', description: "must be a payment id: 'p' and 25 characters of a-z or 2-7" }]);
    return { payment: toPayment(await needHolds().orders.send({ type, payment_id })) };
  };
  return {
    listHeldPayments: unary('ListHeldPayments', async () => ({
      payments: (await needHolds().held.list()).map((h) => ({
        paymentId: h.payment_id, merchantId: h.merchant_id, product: productToWire(h.product as ProductName), amount: BigInt(h.amount_minor),
        currency: h.currency,
        rules: h.rules, heldAt: new Date(h.held_at), reviewExpiresAt: new Date(h.review_expires_at),
      })),
    })),
    releaseHeldPayment: unary('ReleaseHeldPayment', (request: ReleaseHeldPaymentRequest) => decideHold('release_hold', request.paymentId)),
    rejectHeldPayment: unary('RejectHeldPayment', (request: RejectHeldPaymentRequest) => decideHold('reject_hold', request.paymentId)),
    upsertRiskRule: unary('UpsertRiskRule', async (request: UpsertRiskRuleRequest) => {
      if (request.rule === undefined) throw invalidFields([{ field: 'rule', description: 'is required' }]);
      return { rule: toWireRule(await table.upsertRiskRule(fromWireRule(request.rule))) };
    }),
    listRiskRules: unary('ListRiskRules', () => ({ rules: table.riskRules().map(toWireRule) })),
    deleteRiskRule: unary('DeleteRiskRule', async (request: DeleteRiskRuleRequest) => {
      if (request.ruleId === '') throw invalidFields([{ field: 'rule_id', description: 'is required' }]);
      await table.deleteRiskRule(request.ruleId);
      return {};
    }),
    holdMerchant: unary('HoldMerchant', async (request: HoldMerchantRequest) => {
      const violations: FieldViolation[] = [];
      if (!hold_id_pattern.test(request.holdId)) violations.push({ field: 'hold_id', description: 'must be 1..64 of [A-Za-z0-9_-]' });
      if (!merchant_id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
      if (!/^[A-Z]{3}$/.test(request.currency)) violations.push({ field: 'currency', description: 'must be an ISO 4217 code' });
      if (request.amount !== undefined && request.amount <= 0n) violations.push({ field: 'amount', description: 'must be positive (absent: the whole available balance)' });
      if (request.reason.length < 1 || request.reason.length > 256) violations.push({ field: 'reason', description: 'must be 1..256 characters' });
      if (violations.length > 0) throw invalidFields(violations);
      const hold = await onBooks((store) => store.placeHold(request.holdId, request.merchantId, request.currency, request.amount, request.reason, { source: 'risk', blocks_settlement: true }));
      log?.info({ hold_id: hold.hold_id, merchant_id: hold.merchant_id, amount_minor: String(hold.amount_minor) }, 'merchant held by risk');
      return { hold: toWireHold(hold) };
    }),
    releaseMerchantHold: unary('ReleaseMerchantHold', async (request: ReleaseMerchantHoldRequest) => {
      const violations: FieldViolation[] = [];
      if (!hold_id_pattern.test(request.holdId)) violations.push({ field: 'hold_id', description: 'must be 1..64 of [A-Za-z0-9_-]' });
      if (!merchant_id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'must be 1..32 of [A-Za-z0-9_-]' });
      if (violations.length > 0) throw invalidFields(violations);
      const hold = await onBooks((store) => store.releaseHold(request.holdId, request.merchantId));
      log?.info({ hold_id: hold.hold_id, merchant_id: hold.merchant_id }, 'merchant hold released');
      return { hold: toWireHold(hold) };
    }),
    listMerchantHolds: unary('ListMerchantHolds', async (request: ListMerchantHoldsRequest) => {
      if (!merchant_id_pattern.test(request.merchantId)) throw invalidFields([{ field: 'merchant_id', description: 'must be 1..32 of [A-Za-z0-9_-]' }]);
      return { holds: (await onBooks((store) => store.holdsOf(request.merchantId))).map(toWireHold) };
    }),
  };
}

const hold_id_pattern = /^[A-Za-z0-9_-]{1,64}$/;
const merchant_id_pattern = /^[A-Za-z0-9_-]{1,32}$/;

function toWireHold(hold: Hold): MerchantHold {
  return {
    holdId: hold.hold_id, merchantId: hold.merchant_id, currency: hold.currency, amount: hold.amount_minor, reason: hold.reason, source: hold.source,
    blocksSettlement: hold.blocks_settlement, placedAt: hold.placed_at, releasedAt: hold.released_at ?? undefined,
  };
}

/** `RISK_ACTION_BLOCK` → `block`; the zero value and unknown numbers → undefined (refused
 * by validation, naming the field). */
function enumName(names: Record<number, string>, prefix: string, value: number): string | undefined {
  const name = names[value];
  if (name === undefined || name.endsWith('_UNSPECIFIED') || name === 'UNRECOGNIZED') return undefined;
  return name.slice(prefix.length).toLowerCase();
}

function enumValue<T>(names: Record<string, T | string>, prefix: string, name: string): T {
  return names[`${prefix}${name.toUpperCase()}`] as T;
}

/** The JSON form core/risk/rules.ts validates: fields that do not apply are left out. */
function fromWireRule(w: WireRiskRule): unknown {
  const kind = enumName(WireRiskKind, 'RISK_KIND_', w.kind);
  const json: Record<string, unknown> = {
    rule_id: w.ruleId,
    action: enumName(WireRiskAction, 'RISK_ACTION_', w.action),
    ...(w.merchantId === '' ? {} : { merchant_id: w.merchantId }),
    products: w.products.map((p) => productFromWire(p) ?? `unknown product ${p}`),
    kind,
  };
  if (w.dimension !== WireRiskDimension.RISK_DIMENSION_UNSPECIFIED || kind === 'velocity' || kind === 'list' || kind === 'new_payer') json.dimension = enumName(WireRiskDimension, 'RISK_DIMENSION_', w.dimension);
  if (w.windowSeconds !== 0 || kind === 'velocity') json.window_seconds = w.windowSeconds;
  if (w.countMax !== undefined) json.count_max = w.countMax;
  if (w.amountMaxMinor !== undefined) json.amount_max_minor = w.amountMaxMinor.toString();
  if (w.values.length > 0 || kind === 'list') json.values = w.values;
  if (w.newForSeconds !== 0 || kind === 'new_payer') json.new_for_seconds = w.newForSeconds;
  if (w.reviewSeconds !== 0) json.review_seconds = w.reviewSeconds;
  return json;
}

function toWireRule(rule: RiskRule): WireRiskRule {
  const json = riskRuleToJson(rule);
  const c = rule.condition;
  return {
    ruleId: rule.rule_id,
    action: enumValue<WireRiskAction>(WireRiskAction, 'RISK_ACTION_', rule.action),
    merchantId: rule.merchant_id ?? '',
    products: rule.products.map((p: ProductName) => productToWire(p)),
    kind: enumValue<WireRiskKind>(WireRiskKind, 'RISK_KIND_', c.kind),
    dimension: 'dimension' in c ? enumValue<WireRiskDimension>(WireRiskDimension, 'RISK_DIMENSION_', c.dimension) : WireRiskDimension.RISK_DIMENSION_UNSPECIFIED,
    windowSeconds: c.kind === 'velocity' ? c.window_seconds : 0,
    countMax: c.kind === 'velocity' ? c.count_max : undefined,
    amountMaxMinor: typeof json.amount_max_minor === 'string' ? BigInt(json.amount_max_minor) : undefined,
    values: c.kind === 'list' ? [...c.values] : [],
    newForSeconds: c.kind === 'new_payer' ? c.new_for_seconds : 0,
    reviewSeconds: rule.review_seconds ?? 0,
  };
}
