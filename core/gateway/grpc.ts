// The gRPC front end: validates every call at the edge, derives the payment id, and hands
// the command to the payment's actor over NATS. Reads (Get, Watch) go to the event log
// directly, so any gateway answers them without bothering an actor.

import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as proto_loader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as health_proto } from 'grpc-health-check';
import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import {
  PaymentServiceService,
  type CreatePaymentRequest,
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
import { decodeJson } from '../codec';
import { stored_message_schema } from '../orders/schemas';
import { notifyPolicy, type Config } from '../config';
import type { DestinationPolicy } from '../notify/destination';
import { expire_seconds_default, expire_seconds_max } from '../constants';
import { PaycoreError, dependencyDown, grpcStatusOfReason, invalidFields, toServiceError, type Dependency } from '../errors';
import { paymentId, refundId } from '../ids';
import type { Logger } from '../log';
import type { GatewayMetrics } from '../metrics';
import type { Names } from '../names';
import { findRefund, isOpen } from '../orders/evolve';
import type { RefundIndex } from '../orders/refund-index';
import type { RoutingTable } from '../routing/table';
import type { Notifier } from '../notify';
import { adminServices, merchant_admin_service, routing_admin_service } from './admin';
import { notification_admin_service, notificationAdminService } from './notify-admin';
import type { EventStore, StoredMessage } from '../orders/store';
import type { PaymentState } from '../orders/types';
import type { ActorsClient } from './actors-client';
import { SpanKind, extractFrom, inSpan } from '../tracing';
import { toCreateInput, toPayment, toRefund } from './convert';
import { productToWire } from './wire-enums';
import {
  refundFingerprint, requestFingerprint, validateConfirmPayment, validateCreatePayment, validateCreateRefund, validatePaymentOptions, validatePaymentRef, validateRefundRef, type PaymentRef,
} from './validate';

export interface GrpcDeps {
  config: Config;
  actors: ActorsClient;
  store: EventStore;
  refund_index: RefundIndex;
  routing: RoutingTable;
  notifier: Pick<Notifier, 'listDeadLetters' | 'resend'>;
  js: JetStreamClient;
  names: Names;
  log: Logger;
  metrics: GatewayMetrics;
  /** Whether each dependency is reachable now: a call that needs one that is not is refused
   * at once with DEPENDENCY_DOWN instead of waiting for a timeout. */
  dependencies?: { nats(): boolean; redis(): boolean };
}

/** What each PaymentService method needs to answer. */
const method_dependency: Readonly<Record<string, Dependency>> = {
  CreatePayment: 'NATS', GetPayment: 'NATS', ClosePayment: 'NATS', ConfirmPayment: 'NATS', CreateRefund: 'NATS', GetRefund: 'NATS',
  WatchPayment: 'NATS', ListPaymentOptions: 'Redis',
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

export class PaymentGateway {
  /** Open WatchPayment streams, ended when the server shuts down. */
  readonly #watches = new Set<() => void>();

  /** Where notify URLs may point (checked at the edge, and again at delivery). */
  readonly #destinations: DestinationPolicy;

  constructor(private readonly deps: GrpcDeps) {
    this.#destinations = notifyPolicy(deps.config);
  }

  service(): PaymentServiceServer {
    return {
      createPayment: (call, callback) => void this.#unary('CreatePayment', call.metadata, callback, async () => ({ payment: await this.createPayment(call.request) })),
      getPayment: (call, callback) => void this.#unary('GetPayment', call.metadata, callback, async () => ({ payment: await this.getPayment(call.request) })),
      closePayment: (call, callback) =>
        void this.#unary('ClosePayment', call.metadata, callback, async () => ({
          payment: toPayment(await this.deps.actors.send({ type: 'close', payment_id: this.#resolve(call.request), merchant_id: call.request.merchantId })),
        })),
      confirmPayment: (call, callback) =>
        void this.#unary('ConfirmPayment', call.metadata, callback, async () => {
          const violations = validateConfirmPayment(call.request, this.deps.config.id_key);
          if (violations.length > 0) throw invalidFields(violations);
          const payment_id = this.#resolve(call.request);
          return { payment: toPayment(await this.deps.actors.send({ type: 'confirm', payment_id, merchant_id: call.request.merchantId, verification_code: call.request.verificationCode })) };
        }),
      createRefund: (call, callback) => void this.#unary('CreateRefund', call.metadata, callback, async () => ({ refund: await this.createRefund(call.request) })),
      getRefund: (call, callback) => void this.#unary('GetRefund', call.metadata, callback, async () => ({ refund: await this.getRefund(call.request) })),
      listPaymentOptions: (call, callback) => void this.#unary('ListPaymentOptions', call.metadata, callback, () => this.listPaymentOptions(call.request)),
      watchPayment: (call) => void this.watchPayment(call),
    };
  }

  async #unary<T>(method: string, metadata: grpc.Metadata, callback: Callback<T>, run: () => Promise<T>): Promise<void> {
    const end = this.deps.metrics.grpc_duration.startTimer({ method });
    let code: grpc.status = grpc.status.OK;
    try {
      this.#requireDependency(method);
      const parent = extractFrom(metadata.getMap() as Record<string, string>);
      callback(null, await inSpan(`paycore.v1.PaymentService/${method}`, SpanKind.SERVER, parent, run));
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

  async createPayment(request: CreatePaymentRequest): Promise<Payment> {
    const rules = { expire_seconds_min: this.deps.config.expire_seconds_min, expire_seconds_max, expire_seconds_default };
    const violations = validateCreatePayment(request, rules, this.#destinations);
    if (violations.length > 0) throw invalidFields(violations);
    const expire_seconds = request.expireSeconds === 0 ? expire_seconds_default : request.expireSeconds;
    const payment_id = paymentId(this.deps.config.id_key, request.merchantId, request.merchantOrderNo);
    const input = toCreateInput(request, expire_seconds, requestFingerprint(request, expire_seconds));
    return toPayment(await this.deps.actors.send({ type: 'create', payment_id, input }));
  }

  async getPayment(request: GetPaymentRequest): Promise<Payment> {
    return toPayment(await this.#load(request));
  }

  async listPaymentOptions(request: ListPaymentOptionsRequest): Promise<ListPaymentOptionsResponse> {
    const violations = validatePaymentOptions(request);
    if (violations.length > 0) throw invalidFields(violations);
    const options = await this.deps.routing.listPaymentOptions(request.merchantId, request.amount, request.currency, request.scene);
    return { options: options.map((o) => ({ product: productToWire(o.product), displayName: o.display_name })) };
  }

  async createRefund(request: CreateRefundRequest): Promise<Refund> {
    const key = this.deps.config.id_key;
    const violations = validateCreateRefund(request, key, this.#destinations);
    if (violations.length > 0) throw invalidFields(violations);
    const payment_id = request.paymentId !== '' ? request.paymentId : paymentId(key, request.merchantId, request.merchantOrderNo);
    const refund_id = refundId(key, request.merchantId, request.merchantRefundNo);
    const input = {
      refund_id,
      merchant_refund_no: request.merchantRefundNo,
      amount_minor: request.amount,
      reason: request.reason,
      notify_url: request.notifyUrl,
      fingerprint: refundFingerprint(request, payment_id),
    };
    const holder = await this.deps.refund_index.lookup(refund_id);
    if (holder !== undefined && holder !== payment_id) {
      throw new PaycoreError('IDEMPOTENCY_KEY_REUSED', `merchant_refund_no ${request.merchantRefundNo} is used by another payment`);
    }
    // The actor refuses another merchant's payment (NOT_FOUND) before anything happens.
    const state = await this.deps.actors.send({ type: 'create_refund', payment_id, merchant_id: request.merchantId, input });
    const refund = findRefund(state, refund_id);
    if (refund === undefined) throw new PaycoreError('INTERNAL', `refund ${refund_id} missing after its creation`);
    return toRefund(state, refund);
  }

  async getRefund(request: GetRefundRequest): Promise<Refund> {
    const violations = validateRefundRef(request);
    if (violations.length > 0) throw invalidFields(violations);
    const refund_id = request.refundId !== '' ? request.refundId : refundId(this.deps.config.id_key, request.merchantId, request.merchantRefundNo);
    const payment_id = await this.deps.refund_index.lookup(refund_id);
    const loaded = payment_id === undefined ? undefined : await this.deps.store.load(payment_id);
    const refund = loaded === undefined ? undefined : findRefund(loaded.state, refund_id);
    if (loaded === undefined || refund === undefined || loaded.state.merchant_id !== request.merchantId) {
      throw new PaycoreError('NOT_FOUND', `no refund ${refund_id}`);
    }
    return toRefund(loaded.state, refund);
  }

  /** The payment id a reference names, after validating it. */
  #resolve(ref: PaymentRef): string {
    const violations = validatePaymentRef(ref, this.deps.config.id_key);
    if (violations.length > 0) throw invalidFields(violations);
    return ref.paymentId !== '' ? ref.paymentId : paymentId(this.deps.config.id_key, ref.merchantId, ref.merchantOrderNo);
  }

  async #load(ref: PaymentRef): Promise<PaymentState> {
    const payment_id = this.#resolve(ref);
    const loaded = await this.deps.store.load(payment_id);
    // A payment id with another merchant's id is answered as absent: no probing by id.
    if (loaded === undefined || loaded.state.merchant_id !== ref.merchantId) {
      throw new PaycoreError('NOT_FOUND', `no payment ${payment_id}`);
    }
    return loaded.state;
  }

  async watchPayment(call: grpc.ServerWritableStream<WatchPaymentRequest, WatchPaymentResponse>): Promise<void> {
    let messages: ConsumerMessages | undefined;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.#watches.delete(end);
      messages?.stop();
      call.end();
    };
    this.#watches.add(end);
    call.on('cancelled', end);
    try {
      this.#requireDependency('WatchPayment');
      const payment_id = this.#resolve(call.request);
      const loaded = await this.deps.store.load(payment_id);
      if (loaded === undefined || loaded.state.merchant_id !== call.request.merchantId) {
        throw new PaycoreError('NOT_FOUND', `no payment ${payment_id}`);
      }
      call.write({ payment: toPayment(loaded.state) });
      if (!isOpen(loaded.state)) return end();
      // Every later event of this payment, in order, from the one after the snapshot sent.
      const consumer = await this.deps.js.consumers.get(this.deps.names.events_stream, {
        filter_subjects: this.deps.names.events(payment_id),
        opt_start_seq: loaded.seq + 1,
      });
      if (ended) return;
      messages = await consumer.consume();
      for await (const message of messages) {
        const stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
        call.write({ payment: toPayment(stored.state) });
        if (!isOpen(stored.state)) break;
      }
      end();
    } catch (error) {
      this.#watches.delete(end);
      if (ended) return;
      ended = true;
      messages?.stop();
      const service_error = error instanceof PaycoreError ? error : new PaycoreError('INTERNAL', 'watch failed');
      if (!(error instanceof PaycoreError)) this.deps.log.error({ err: String(error) }, 'watch failed');
      // emit('error'), not destroy(): grpc-js sends the status (and its details) only for the
      // former; a destroyed stream leaves the client waiting for its deadline.
      call.emit('error', Object.assign(new Error(service_error.message), toServiceError(service_error)));
      this.deps.metrics.grpc_requests.inc({ method: 'WatchPayment', code: grpc.status[grpcStatusOfReason[service_error.reason]] });
      return;
    }
    this.deps.metrics.grpc_requests.inc({ method: 'WatchPayment', code: 'OK' });
  }

  endWatches(): void {
    for (const end of [...this.#watches]) end();
  }
}

export interface GrpcServer {
  port: number;
  health: HealthImplementation;
  shutdown(drain_ms: number): Promise<void>;
}

export async function startGrpc(deps: GrpcDeps): Promise<GrpcServer> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  const gateway = new PaymentGateway(deps);
  server.addService(PaymentServiceService, gateway.service());
  const admin = adminServices(deps.routing, deps.log);
  server.addService(routing_admin_service, admin.routing);
  server.addService(merchant_admin_service, admin.merchants);
  server.addService(notification_admin_service, notificationAdminService(deps.notifier, deps.log));
  const health = new HealthImplementation({ '': 'NOT_SERVING', 'paycore.v1.PaymentService': 'NOT_SERVING' });
  health.addToServer(server);
  const definition = proto_loader.loadSync(['paycore/v1/payment.proto', 'paycore/v1/admin.proto', health_proto], { includeDirs: [proto_root], keepCase: true, longs: String, enums: String, defaults: true });
  new ReflectionService(definition).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${deps.config.grpc_host}:${deps.config.grpc_port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  return {
    port,
    health,
    shutdown: (drain_ms) =>
      new Promise<void>((resolve) => {
        health.setStatus('', 'NOT_SERVING');
        health.setStatus('paycore.v1.PaymentService', 'NOT_SERVING');
        gateway.endWatches();
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, drain_ms);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
