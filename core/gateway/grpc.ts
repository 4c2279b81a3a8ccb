// The gRPC front end: validates every call at the edge, derives the payment id, and hands
// the command to the payment's actor. Everything about payments goes through the orders
// module's client (core/orders/api.ts): commands to the actors; reads (Get, Watch) from the
// event log, so any gateway answers them without bothering an actor.

import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as proto_loader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as health_proto } from 'grpc-health-check';
import {
  PaymentServiceService,
  type CreatePaymentRequest,
  Product,
  type CreateRefundRequest,
  type GetPaymentRequest,
  type GetRefundRequest,
  type ListPaymentOptionsRequest,
  type ListPaymentOptionsResponse,
  type Refund,
  type Payment,
  type PaymentServiceServer,
  type WatchPaymentRequest,
  type WatchPaymentResponse,
} from '../../proto/gen/paycore/v1/payment';
import type { Config } from '../config';
import { notifyPolicy } from '../notify/destination';
import type { DestinationPolicy } from '../notify/destination';
import { expire_seconds_default, expire_seconds_max, overloaded_retry_after_ms } from '../constants';
import { PaycoreError, dependencyDown, grpcStatusOfReason, invalidFields, toServiceError, type Dependency } from '../errors';
import { paymentId, refundId } from '../ids';
import type { Logger } from '../log';
import type { GatewayMetrics } from '../metrics';
import { findRefund, isOpen } from '../orders/evolve';
import type { Loaded, OrdersClient, PaymentWatch } from '../orders/api';
import type { RefundInput } from '../orders/protocol';
import type { PaymentState } from '../orders/types';
import type { Routing } from '../routing/routing';
import type { Notifier } from '../notify';
import { adminServices, merchant_admin_service, routing_admin_service } from './admin';
import { app_admin_service, appAdminService } from './app-admin';
import type { Authenticator, Caller } from '../auth/authenticator';
import { callerOf, guardedServer } from '../auth/guard';
import { listenPlain, listenTls, type Listener } from '../auth/tls';
import { notification_admin_service, notificationAdminService } from './notify-admin';
import { timer_admin_service, timerAdminService } from './timer-admin';
import { ledger_service, ledgerService } from './ledger';
import { recon_service, reconService, type ReconRuntime } from './recon';
import { payout_service, payoutService, type PayoutsDeps } from './payouts';
import { payout_admin_service, payoutAdminService, type PayoutAdminDeps } from './payout-admin';
import { split_admin_service, splitAdminService } from './split-admin';
import { split_service, splitRulesOf, splitService, validateSplitRules, type SplitsDeps } from './splits';
import { LedgerError, type LedgerStore } from '../ledger/store';
import { risk_admin_service, riskAdminService } from './risk-admin';
import { bindInput, checkConfirmBinding, checkListCards, checkUnbindCard, toWireBinding, toWireCard } from './cards';
import type { CardService } from '../cards/service';
import type { HeldIndex } from '../risk/held';
import type { DeadTimers } from '../orders/dead-timers';
import { SpanKind, extractFrom, inSpan } from '../tracing';
import { toCreateInput, toPayment, toRefund } from './convert';
import { productToWire } from './wire-enums';
import {
  refundFingerprint,
  requestFingerprint,
  validateConfirmPayment,
  validateCreatePayment,
  validateCreateRefund,
  validatePaymentOptions,
  validatePaymentRef,
  validateRefundRef,
  type PaymentRef,
} from './validate';

export interface GrpcDeps {
  config: Config;
  /** Payments and refunds: commands, reads, watches. */
  orders: OrdersClient;
  routing: Routing;
  notifier: Pick<Notifier, 'listDeadLetters' | 'resend'>;
  /** The books (LedgerService); undefined when this paycore keeps none. */
  ledger?: LedgerStore;
  /** Reconciliation (ReconService); undefined when this paycore keeps no books. */
  recon?: ReconRuntime;
  /** Timers that kept failing (TimerAdminService). */
  dead_timers: DeadTimers;
  log: Logger;
  metrics: GatewayMetrics;
  /** Whether each dependency is reachable now: a call that needs one that is not is refused
   * at once with DEPENDENCY_DOWN instead of waiting for a timeout. */
  dependencies?: { nats(): boolean; redis(): boolean };
  authenticator: Authenticator;
  /** Card binding for UnionPay quick pay; absent: the card calls are ILLEGAL_STATE and card
   * tokens are not checked at the edge (unit tests). */
  cards?: CardService;
  /** Payments held for review (RiskAdminService). */
  held?: HeldIndex;
  /** Payouts (PayoutService, PayoutAdminService); undefined when this paycore keeps no books. */
  payouts?: PayoutsDeps & PayoutAdminDeps;
  /** Splits (SplitService); undefined when this paycore keeps no books. */
  splits?: SplitsDeps;
}

/** What each PaymentService method needs to answer. */
/** The order actor's refusals of a create_refund after which the refund does not exist. */
const refused_refund_reasons: ReadonlySet<string> = new Set(['REFUND_EXCEEDS_PAID', 'ILLEGAL_STATE', 'NOT_FOUND']);

const method_dependency: Readonly<Record<string, Dependency>> = {
  CreatePayment: 'NATS', GetPayment: 'NATS', ClosePayment: 'NATS', ConfirmPayment: 'NATS', CreateRefund: 'NATS', GetRefund: 'NATS',
  WatchPayment: 'NATS', ListPaymentOptions: 'Redis', BindCard: 'NATS', ConfirmBinding: 'NATS', ListCards: 'NATS', UnbindCard: 'NATS',
};

const proto_root = path.resolve(__dirname, '../../../proto');

type Callback<T> = grpc.sendUnaryData<T>;

function fail<T>(callback: Callback<T>, error: unknown, log: Logger, method: string): void {
  if (error instanceof PaycoreError) {
    callback(toServiceError(error) as grpc.ServiceError, null);
    return;
  }
  log.error({ method, err: String(error) }, 'unexpected gateway failure');
  callback(toServiceError(new PaycoreError('INTERNAL', 'internal error')) as grpc.ServiceError, null);
}

class PaymentGateway {
  /** Open WatchPayment streams, ended when the server shuts down. */
  readonly #watches = new Set<(error?: PaycoreError) => void>();
  /** Watches held, per app and in total (the bounds are in the config). */
  readonly #watch_counts = new Map<string, number>();
  #watch_total = 0;

  /** Where notify URLs may point (checked at the edge, and again at delivery). */
  readonly #destinations: DestinationPolicy;

  constructor(private readonly deps: GrpcDeps) {
    this.#destinations = notifyPolicy(deps.config);
  }

  service(): PaymentServiceServer {
    return {
      createPayment: (call, callback) => void this.#unary('CreatePayment', call, callback, async (caller) => ({ payment: await this.createPayment(call.request, caller) })),
      getPayment: (call, callback) => void this.#unary('GetPayment', call, callback, async (caller) => ({ payment: await this.getPayment(call.request, caller) })),
      closePayment: (call, callback) =>
        void this.#unary('ClosePayment', call, callback, async (caller) => {
          const payment_id = this.#authorizeRef(call.request, caller);
          return { payment: toPayment(await this.deps.orders.send({ type: 'close', payment_id, merchant_id: call.request.merchantId })) };
        }),
      confirmPayment: (call, callback) =>
        void this.#unary('ConfirmPayment', call, callback, async (caller) => {
          const violations = validateConfirmPayment(call.request, this.deps.config.id_key);
          if (violations.length > 0) throw invalidFields(violations);
          const payment_id = this.#authorizeRef(call.request, caller);
          return { payment: toPayment(await this.deps.orders.send({ type: 'confirm', payment_id, merchant_id: call.request.merchantId, verification_code: call.request.verificationCode })) };
        }),
      createRefund: (call, callback) => void this.#unary('CreateRefund', call, callback, async (caller) => ({ refund: await this.createRefund(call.request, caller) })),
      getRefund: (call, callback) => void this.#unary('GetRefund', call, callback, async (caller) => ({ refund: await this.getRefund(call.request, caller) })),
      listPaymentOptions: (call, callback) => void this.#unary('ListPaymentOptions', call, callback, (caller) => this.listPaymentOptions(call.request, caller)),
      watchPayment: (call) => void this.watchPayment(call),
      bindCard: (call, callback) =>
        void this.#unary('BindCard', call, callback, async (caller) => {
          const input = bindInput(call.request);
          caller.requireMerchant(input.merchant_id);
          return { binding: toWireBinding(await this.#cards().bind(input)) };
        }),
      confirmBinding: (call, callback) =>
        void this.#unary('ConfirmBinding', call, callback, async (caller) => {
          checkConfirmBinding(call.request);
          caller.requireMerchant(call.request.merchantId);
          return { binding: toWireBinding(await this.#cards().confirm(call.request.merchantId, call.request.bindingId, call.request.verificationCode)) };
        }),
      listCards: (call, callback) =>
        void this.#unary('ListCards', call, callback, async (caller) => {
          checkListCards(call.request);
          caller.requireMerchant(call.request.merchantId);
          return { cards: (await this.#cards().list(call.request.merchantId, call.request.payerId)).map(toWireCard) };
        }),
      unbindCard: (call, callback) =>
        void this.#unary('UnbindCard', call, callback, async (caller) => {
          checkUnbindCard(call.request);
          caller.requireMerchant(call.request.merchantId);
          await this.#cards().unbind(call.request.merchantId, call.request.cardToken);
          return {};
        }),
    };
  }

  #cards(): CardService {
    if (this.deps.cards === undefined) throw new PaycoreError('ILLEGAL_STATE', 'card binding is not served here');
    return this.deps.cards;
  }

  async #unary<T>(method: string, call: grpc.ServerUnaryCall<unknown, T>, callback: Callback<T>, run: (caller: Caller) => Promise<T>): Promise<void> {
    const end = this.deps.metrics.grpc_duration.startTimer({ method });
    let code: grpc.status = grpc.status.OK;
    try {
      this.#requireDependency(method);
      const caller = callerOf(call);
      const parent = extractFrom(call.metadata.getMap() as Record<string, string>);
      callback(null, await inSpan(`paycore.v1.PaymentService/${method}`, SpanKind.SERVER, parent, () => run(caller)));
    } catch (error) {
      code = error instanceof PaycoreError ? grpcStatusOfReason[error.reason] : grpc.status.INTERNAL;
      fail(callback, error, this.deps.log, method);
    } finally {
      end();
      this.deps.metrics.grpc_requests.inc({ method, code: grpc.status[code] });
    }
  }

  #requireDependency(method: string): void {
    const needed = method_dependency[method];
    const available = this.deps.dependencies;
    if (needed === undefined || available === undefined) return;
    if (!(needed === 'NATS' ? available.nats() : available.redis())) throw dependencyDown(needed);
  }

  async createPayment(request: CreatePaymentRequest, caller: Caller): Promise<Payment> {
    const rules = { expire_seconds_min: this.deps.config.expire_seconds_min, expire_seconds_max, expire_seconds_default };
    const violations = [...validateCreatePayment(request, rules, this.#destinations), ...validateSplitRules(request.splitRules, request.amount)];
    if (violations.length > 0) throw invalidFields(violations);
    caller.requireMerchant(request.merchantId);
    // Quick pay takes only a card bound for this merchant (BindCard): anything else is refused
    // here, naming the field, before anything is stored.
    if (request.product === Product.PRODUCT_UNIONPAY_QUICK && this.deps.cards !== undefined && !(await this.deps.cards.isBound(request.merchantId, request.payer?.cardToken ?? ''))) {
      throw invalidFields([{ field: 'payer.card_token', description: 'is not a card bound for this merchant (BindCard, ConfirmBinding)' }]);
    }
    const expire_seconds = request.expireSeconds === 0 ? expire_seconds_default : request.expireSeconds;
    const payment_id = paymentId(this.deps.config.id_key, request.merchantId, request.merchantOrderNo);
    const input = toCreateInput(request, expire_seconds, requestFingerprint(request, expire_seconds));
    if (request.splitRules.length > 0) await this.#keepSplitRules(payment_id, request);
    return toPayment(await this.deps.orders.send({ type: 'create', payment_id, input }));
  }

  /** Split rules are kept in the books before the payment exists (core/splits/rules.ts). */
  async #keepSplitRules(payment_id: string, request: CreatePaymentRequest): Promise<void> {
    const splits = this.deps.splits;
    if (splits === undefined) throw new PaycoreError('ILLEGAL_STATE', 'split_rules: this paycore keeps no books (PAYCORE_DATABASE_URL is not set)');
    try {
      await splits.rules.save(payment_id, request.merchantId, splitRulesOf(request.splitRules));
    } catch (error) {
      if (error instanceof PaycoreError) throw error;
      throw new PaycoreError('DEPENDENCY_DOWN', 'the books (PostgreSQL) did not keep the split rules; retry with the same key');
    }
  }

  async getPayment(request: GetPaymentRequest, caller: Caller): Promise<Payment> {
    return toPayment((await this.#load(request, caller)).state);
  }

  async listPaymentOptions(request: ListPaymentOptionsRequest, caller: Caller): Promise<ListPaymentOptionsResponse> {
    const violations = validatePaymentOptions(request);
    if (violations.length > 0) throw invalidFields(violations);
    caller.requireMerchant(request.merchantId);
    const options = await this.deps.routing.decisions.listPaymentOptions(request.merchantId, request.amount, request.currency, request.scene);
    return { options: options.map((o) => ({ product: productToWire(o.product), displayName: o.display_name })) };
  }

  async createRefund(request: CreateRefundRequest, caller: Caller): Promise<Refund> {
    const key = this.deps.config.id_key;
    const violations = validateCreateRefund(request, key, this.#destinations);
    if (violations.length > 0) throw invalidFields(violations);
    caller.requireMerchant(request.merchantId);
    const payment_id = request.paymentId !== '' ? request.paymentId : paymentId(key, request.merchantId, request.merchantOrderNo);
    const refund_id = refundId(key, request.merchantId, request.merchantRefundNo);
    const input: RefundInput = {
      refund_id,
      merchant_refund_no: request.merchantRefundNo,
      amount_minor: request.amount,
      reason: request.reason,
      notify_url: request.notifyUrl,
      fingerprint: refundFingerprint(request, payment_id),
    };
    const holder = await this.deps.orders.refundHolder(refund_id);
    if (holder !== undefined && holder !== payment_id) {
      throw new PaycoreError('IDEMPOTENCY_KEY_REUSED', `merchant_refund_no ${request.merchantRefundNo} is used by another payment`);
    }
    if (holder === undefined) {
      await this.#fundRefund(payment_id, refund_id, request);
      // A payment split at its channel: the receivers' shares come back through the provider
      // first (分账回退, core/splits/README.md), or the refund is not made; a channel that takes
      // them back inside the refund (Alipay) gets them to carry.
      const carried = await this.deps.splits?.service.returnForRefund(request.merchantId, payment_id, refund_id, request.amount);
      if (carried !== undefined && carried.length > 0) input.share_returns = carried;
    }
    // The actor refuses another merchant's payment (NOT_FOUND) before anything happens.
    const state = await this.#sendRefund(payment_id, request.merchantId, input);
    const refund = findRefund(state, refund_id);
    if (refund === undefined) throw new PaycoreError('INTERNAL', `refund ${refund_id} missing after its creation`);
    return toRefund(state, refund);
  }

  /** create_refund to the order actor. A refund that was to carry shares back and that the actor
   * refused for good (so it does not exist) gives them back to their receivers in the books. */
  async #sendRefund(payment_id: string, merchant_id: string, input: RefundInput): Promise<PaymentState> {
    try {
      return await this.deps.orders.send({ type: 'create_refund', payment_id, merchant_id, input });
    } catch (error) {
      const refused = error instanceof PaycoreError && refused_refund_reasons.has(error.reason);
      if (refused && input.share_returns !== undefined) await this.deps.splits?.service.releaseCarried(payment_id, input.refund_id);
      throw error;
    }
  }

  /** The refund funding check of the books (LedgerStore.reserveRefund), for a refund not yet
   * recorded: refused with INSUFFICIENT_BALANCE before the actor or the channel hear of it.
   * Skipped without books, and for a payment that is not this merchant's (the actor answers
   * NOT_FOUND for it). */
  async #fundRefund(payment_id: string, refund_id: string, request: CreateRefundRequest): Promise<void> {
    const ledger = this.deps.ledger;
    if (ledger === undefined) return;
    const loaded = await this.deps.orders.get(payment_id);
    if (loaded === undefined || loaded.state.merchant_id !== request.merchantId) return;
    try {
      await ledger.reserveRefund(refund_id, request.merchantId, loaded.state.currency, request.amount, payment_id);
    } catch (error) {
      if (error instanceof LedgerError) throw new PaycoreError('INSUFFICIENT_BALANCE', error.message);
      throw new PaycoreError('DEPENDENCY_DOWN', 'the books (PostgreSQL) did not answer the refund funding check; retry with the same key');
    }
  }

  async getRefund(request: GetRefundRequest, caller: Caller): Promise<Refund> {
    const violations = validateRefundRef(request);
    if (violations.length > 0) throw invalidFields(violations);
    caller.requireMerchant(request.merchantId);
    const refund_id = request.refundId !== '' ? request.refundId : refundId(this.deps.config.id_key, request.merchantId, request.merchantRefundNo);
    const found = await this.deps.orders.getRefund(refund_id);
    if (found === undefined || found.state.merchant_id !== request.merchantId) {
      throw new PaycoreError('NOT_FOUND', `no refund ${refund_id}`);
    }
    return toRefund(found.state, found.refund);
  }

  /** The payment id a reference names, after validating it. */
  #resolve(ref: PaymentRef): string {
    const violations = validatePaymentRef(ref, this.deps.config.id_key);
    if (violations.length > 0) throw invalidFields(violations);
    return ref.paymentId !== '' ? ref.paymentId : paymentId(this.deps.config.id_key, ref.merchantId, ref.merchantOrderNo);
  }

  /** The payment a reference names, loaded, when this caller may see it: a merchant the app
   * may not act for is FORBIDDEN (before anything is read); a payment id of another merchant
   * than the one named is answered as absent, so ids cannot be probed. */
  async #load(ref: PaymentRef, caller: Caller): Promise<Loaded> {
    const payment_id = this.#authorizeRef(ref, caller);
    const loaded = await this.deps.orders.get(payment_id);
    if (loaded === undefined || loaded.state.merchant_id !== ref.merchantId) {
      throw new PaycoreError('NOT_FOUND', `no payment ${payment_id}`);
    }
    return loaded;
  }

  /** The payment id a reference names, once validated and the caller may act for its
   * merchant (the actor checks the payment is that merchant's before any effect). */
  #authorizeRef(ref: PaymentRef, caller: Caller): string {
    const payment_id = this.#resolve(ref);
    caller.requireMerchant(ref.merchantId);
    return payment_id;
  }

  async watchPayment(call: grpc.ServerWritableStream<WatchPaymentRequest, WatchPaymentResponse>): Promise<void> {
    let watch: PaymentWatch | undefined;
    let ended = false;
    let release = (): void => undefined;
    let lifetime: NodeJS.Timeout | undefined;
    const end = (error?: PaycoreError): void => {
      if (ended) return;
      ended = true;
      clearTimeout(lifetime);
      release();
      this.#watches.delete(end);
      watch?.stop();
      const code = error === undefined ? grpc.status.OK : grpcStatusOfReason[error.reason];
      this.deps.metrics.grpc_requests.inc({ method: 'WatchPayment', code: grpc.status[code] });
      // emit('error') sends the status to the client at once (destroy() sends none: the client
      // would wait for its deadline).
      if (error === undefined) call.end();
      else call.emit('error', Object.assign(new Error(error.message), toServiceError(error)));
    };
    call.on('cancelled', () => end());
    try {
      this.#requireDependency('WatchPayment');
      const caller = callerOf(call);
      release = this.#admitWatch(caller.app_id);
      this.#watches.add(end);
      const lifetime_ms = this.deps.config.watch_lifetime_ms;
      lifetime = setTimeout(() => end(new PaycoreError('OVERLOADED', `a watch lasts at most ${lifetime_ms} ms: watch again`)), lifetime_ms);
      const loaded = await this.#load(call.request, caller);
      if (ended) return;
      call.write({ payment: toPayment(loaded.state) });
      if (!isOpen(loaded.state)) return end();
      // Every later state of this payment, in order, from the one after the snapshot sent,
      // until it leaves its open states.
      watch = this.deps.orders.watch(loaded.state.payment_id, loaded.seq);
      for await (const state of watch) {
        if (ended) break;
        call.write({ payment: toPayment(state) });
      }
      end();
    } catch (error) {
      if (!(error instanceof PaycoreError)) this.deps.log.error({ err: String(error) }, 'watch failed');
      end(error instanceof PaycoreError ? error : new PaycoreError('INTERNAL', 'watch failed'));
    }
  }

  /** Counts a watch against its app's and the gateway's bounds; the returned function gives
   * the place back. OVERLOADED with the retry hint beyond either bound. */
  #admitWatch(app_id: string): () => void {
    const { watches_max, watches_per_app_max } = this.deps.config;
    const mine = this.#watch_counts.get(app_id) ?? 0;
    const hint = { retry_after_ms: String(overloaded_retry_after_ms) };
    if (this.#watch_total >= watches_max) throw new PaycoreError('OVERLOADED', `this gateway serves at most ${watches_max} watches at once`, [], hint);
    if (mine >= watches_per_app_max) throw new PaycoreError('OVERLOADED', `app ${app_id} may hold at most ${watches_per_app_max} watches at once`, [], hint);
    this.#watch_total += 1;
    this.#watch_counts.set(app_id, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#watch_total -= 1;
      const left = (this.#watch_counts.get(app_id) ?? 1) - 1;
      if (left === 0) this.#watch_counts.delete(app_id);
      else this.#watch_counts.set(app_id, left);
    };
  }

  endWatches(): void {
    for (const end of [...this.#watches]) end(new PaycoreError('DEPENDENCY_DOWN', 'the gateway is shutting down: watch again'));
  }
}

export interface GrpcServer {
  port: number;
  /** The admin services' port: the same as `port` unless PAYCORE_ADMIN_GRPC_PORT is set. */
  admin_port: number;
  health: HealthImplementation;
  shutdown(drain_ms: number): Promise<void>;
}

/** Every grpc-js server paycore runs: admin services on their own server when they have their
 * own port (a grpc-js server serves each of its services on each of its ports). */
function servers(deps: GrpcDeps, gateway: PaymentGateway, health: HealthImplementation): { main: grpc.Server; admin: grpc.Server | undefined } {
  const refusals = (reason: string) => deps.metrics.auth_refusals.inc({ reason });
  const make = (): grpc.Server => new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  const main = make();
  const admin = deps.config.admin_grpc_port === undefined ? undefined : make();
  const definition = proto_loader.loadSync(['paycore/v1/payment.proto', 'paycore/v1/admin.proto', 'paycore/v1/ledger.proto', 'paycore/v1/recon.proto', health_proto], { includeDirs: [proto_root], keepCase: true, longs: String, enums: String, defaults: true });
  for (const server of admin === undefined ? [main] : [main, admin]) {
    health.addToServer(server);
    new ReflectionService(definition).addToServer(guardedServer(server, deps.authenticator, deps.log, refusals) as grpc.Server);
  }
  guardedServer(main, deps.authenticator, deps.log, refusals).addService(PaymentServiceService, gateway.service());
  guardedServer(main, deps.authenticator, deps.log, refusals).addService(ledger_service, ledgerService(deps.ledger, deps.log));
  guardedServer(main, deps.authenticator, deps.log, refusals).addService(recon_service, reconService(deps.recon, deps.log));
  guardedServer(main, deps.authenticator, deps.log, refusals).addService(payout_service, payoutService(deps.payouts, deps.log));
  guardedServer(main, deps.authenticator, deps.log, refusals).addService(split_service, splitService(deps.splits, deps.log));
  const admin_server = guardedServer(admin ?? main, deps.authenticator, deps.log, refusals);
  const services = adminServices(deps.routing, deps.log);
  admin_server.addService(routing_admin_service, services.routing);
  admin_server.addService(merchant_admin_service, services.merchants);
  admin_server.addService(app_admin_service, appAdminService(deps.routing.apps, deps.log));
  admin_server.addService(notification_admin_service, notificationAdminService(deps.notifier, deps.log));
  admin_server.addService(timer_admin_service, timerAdminService(deps.dead_timers, deps.log));
  admin_server.addService(payout_admin_service, payoutAdminService(deps.payouts, deps.orders, deps.log));
  admin_server.addService(split_admin_service, splitAdminService(deps.splits, deps.log));
  admin_server.addService(
    risk_admin_service,
    riskAdminService(
      deps.routing.risk_rules,
      deps.log,
      deps.held === undefined ? undefined : { held: deps.held, orders: deps.orders },
      deps.ledger,
    ),
  );
  return { main, admin };
}

async function listenOn(server: grpc.Server, host: string, port: number, config: Config, log: Logger): Promise<Listener> {
  if (config.grpc_tls === undefined) return listenPlain(server, host, port);
  return listenTls(server, host, port, config.grpc_tls, log);
}

export async function startGrpc(deps: GrpcDeps): Promise<GrpcServer> {
  const gateway = new PaymentGateway(deps);
  const health = new HealthImplementation({ '': 'NOT_SERVING', 'paycore.v1.PaymentService': 'NOT_SERVING' });
  const { main, admin } = servers(deps, gateway, health);
  const { config, log } = deps;
  if (config.grpc_tls === undefined) log.warn('gRPC is PLAINTEXT (PAYCORE_GRPC_INSECURE=1): for development only, never in production');
  const listeners = [await listenOn(main, config.grpc_host, config.grpc_port, config, log)];
  if (admin !== undefined) listeners.push(await listenOn(admin, config.admin_grpc_host, config.admin_grpc_port!, config, log));
  const drain = (server: grpc.Server, drain_ms: number) =>
    new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, drain_ms);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  return {
    port: listeners[0]!.port,
    admin_port: listeners[listeners.length - 1]!.port,
    health,
    async shutdown(drain_ms) {
      health.setStatus('', 'NOT_SERVING');
      health.setStatus('paycore.v1.PaymentService', 'NOT_SERVING');
      gateway.endWatches();
      // Stop accepting connections, then let the calls in flight finish.
      const closed = listeners.map((l) => l.close(drain_ms));
      await Promise.all([main, ...(admin === undefined ? [] : [admin])].map((server) => drain(server, drain_ms)));
      await Promise.all(closed);
    },
  };
}
