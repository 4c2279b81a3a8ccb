// The scenarios a driver process runs, written as callbacks on a raw grpc-js client with
// identity (de)serializers: request bytes are pre-built (requests.ts) and a response is only
// decoded when the scenario needs a field from it. The echo server and paycore are driven by
// exactly this code, so the ceiling measures the same client work.

import * as grpc from '@grpc/grpc-js';
import { Agent, request as httpRequest } from 'node:http';
import { certAuth, channelCredentials, clientOptions, type ClientAuth } from '../../testing/auth-client';
import { decodeServiceError } from '../../core/errors';
import { idKey, paymentId } from '../../core/ids';
import { CreatePaymentResponse, CreateRefundResponse, GetPaymentResponse, NextActionType, PaymentStatus, RefundStatus } from '../../proto/gen/paycore/v1/payment';
import type { ScenarioName, StepPlan } from './protocol';
import { CreateTemplate, benchCreateShape, getBytes, refundBytes } from './requests';

/** Calls the driver may have outstanding on one HTTP/2 connection before grpc-js queues. */
const sandbox_sockets_max = 64;
/** Pay calls to the sandbox time out after this. */
const sandbox_timeout_ms = 10_000;

const method_create = '/paycore.v1.PaymentService/CreatePayment';
const method_get = '/paycore.v1.PaymentService/GetPayment';
const method_refund = '/paycore.v1.PaymentService/CreateRefund';

const identity = (bytes: Buffer): Buffer => bytes;

/** undefined = success; otherwise the error key counted in the report. */
export type Done = (error_key: string | undefined) => void;

export interface Scenario {
  /** Work before the clock starts (replay: create the keys it replays). */
  prepare(): Promise<void>;
  run(sequence: number, done: Done): void;
  /** Payment ids of a few operations, for the coordinator's spot checks. */
  sample(sequence: number): string;
}

export function errorKey(error: grpc.ServiceError): string {
  const decoded = decodeServiceError(error);
  const code = grpc.status[error.code] ?? String(error.code);
  return decoded.reason === undefined || decoded.reason === '' ? code : `${code}/${decoded.reason}`;
}

/** One client (one HTTP/2 connection) per target per driver process, kept across steps. It
 * authenticates with a client certificate (mTLS): no per-request signing work in the driver. */
export class Target {
  readonly client: grpc.Client;
  readonly #options: grpc.CallOptions = {};

  constructor(readonly address: string, readonly deadline_ms: number, tls: StepPlan['tls']) {
    const auth: ClientAuth = tls === undefined ? {} : certAuth(tls.ca_file, tls.cert_file, tls.key_file);
    this.client = new grpc.Client(address, channelCredentials(auth), clientOptions(auth, {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 4 * 1024 * 1024,
    }));
  }

  ready(timeout_ms: number): Promise<void> {
    return new Promise((resolve, reject) => this.client.waitForReady(Date.now() + timeout_ms, (error) => (error ? reject(error) : resolve())));
  }

  unary(method: string, bytes: Buffer, callback: (error: grpc.ServiceError | null, response?: Buffer) => void): void {
    const options = this.deadline_ms > 0 ? { deadline: Date.now() + this.deadline_ms } : this.#options;
    this.client.makeUnaryRequest(method, identity, identity, bytes, options, callback);
  }

  close(): void {
    this.client.close();
  }
}

export function makeScenario(name: ScenarioName, plan: StepPlan & { process_index: number }, target: Target, sandbox: SandboxClient | undefined): Scenario {
  const template = new CreateTemplate(benchCreateShape(plan.merchant_id, `${plan.order_prefix}p${plan.process_index}-`));
  const id_key = idKey(Buffer.from(plan.id_key_hex, 'hex'));
  const idOf = (sequence: number): string => paymentId(id_key, plan.merchant_id, template.orderNo(sequence));
  const noPrepare = async (): Promise<void> => undefined;
  switch (name) {
    case 'create_qr':
      return {
        prepare: noPrepare,
        run: (sequence, done) => target.unary(method_create, template.bytes(sequence), (error) => done(error === null ? undefined : errorKey(error))),
        sample: idOf,
      };
    case 'replay': {
      const keys = Math.max(1, plan.replay_keys);
      const requests = Array.from({ length: keys }, (_, i) => template.bytes(i));
      return {
        async prepare() {
          for (const bytes of requests) {
            await new Promise<void>((resolve, reject) => target.unary(method_create, bytes, (error) => (error === null ? resolve() : reject(new Error(`replay key create failed: ${errorKey(error)}`)))));
          }
        },
        run: (sequence, done) => target.unary(method_create, requests[sequence % keys]!, (error) => done(error === null ? undefined : errorKey(error))),
        sample: (sequence) => idOf(sequence % keys),
      };
    }
    case 'create_pay':
      if (sandbox === undefined) throw new Error('create_pay needs the sandbox URL');
      return { prepare: noPrepare, run: sequenceOf(create_pay_steps, target, sandbox, template, plan.poll_interval_ms), sample: idOf };
    case 'mix':
      return { prepare: noPrepare, run: sequenceOf(mix_steps, target, sandbox, template, plan.poll_interval_ms), sample: idOf };
  }
}

// ---------------------------------------------------------------------------------------------
// Multi-step scenarios: one Iteration object per operation, steps run in order.

interface Iteration {
  sequence: number;
  payment_id: string;
  target: Target;
  sandbox: SandboxClient | undefined;
  template: CreateTemplate;
  poll_interval_ms: number;
  deadline_at: number;
}

type Step = (it: Iteration, next: Done) => void;

const create: Step = (it, next) =>
  it.target.unary(method_create, it.template.bytes(it.sequence), (error, bytes) => {
    if (error !== null) return next(errorKey(error));
    const payment = CreatePaymentResponse.decode(bytes!).payment;
    if (payment === undefined) return next('NO_PAYMENT_IN_RESPONSE');
    it.payment_id = payment.paymentId;
    if (payment.status === PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION) return next(undefined);
    // The provider outlived the channel's create deadline: poll for the action, as the
    // contract tells callers to (docs/api.md, Outages and slow providers).
    if (payment.status === PaymentStatus.PAYMENT_STATUS_CREATED && payment.nextAction?.type === NextActionType.NEXT_ACTION_TYPE_POLL)
      return actionReady(it, next);
    next(`UNEXPECTED_STATUS/${PaymentStatus[payment.status]}`);
  });

/** GetPayment every poll_interval_ms until the payment has its action (REQUIRES_ACTION). */
const actionReady: Step = (it, next) => {
  const poll = (): void =>
    it.target.unary(method_get, getBytes(it.template.shape.merchant_id, it.payment_id), (error, bytes) => {
      if (error !== null) return next(errorKey(error));
      const status = GetPaymentResponse.decode(bytes!).payment?.status ?? PaymentStatus.PAYMENT_STATUS_UNSPECIFIED;
      if (status === PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION) return next(undefined);
      if (status !== PaymentStatus.PAYMENT_STATUS_CREATED) return next(`UNEXPECTED_STATUS/${PaymentStatus[status]}`);
      if (Date.now() > it.deadline_at) return next('TIMEOUT_WAITING_FOR_ACTION');
      setTimeout(poll, it.poll_interval_ms);
    });
  poll();
};

const get: Step = (it, next) =>
  it.target.unary(method_get, getBytes(it.template.shape.merchant_id, it.payment_id), (error) => next(error === null ? undefined : errorKey(error)));

/** The whole amount back: accepted (PENDING / PROCESSING) or already SUCCEEDED. */
const refund: Step = (it, next) =>
  it.target.unary(method_refund, refundBytes(it.template.shape.merchant_id, it.payment_id, it.template.shape.amount_minor), (error, bytes) => {
    if (error !== null) return next(errorKey(error));
    const status = CreateRefundResponse.decode(bytes!).refund?.status ?? RefundStatus.REFUND_STATUS_UNSPECIFIED;
    const accepted =
      status === RefundStatus.REFUND_STATUS_PENDING ||
      status === RefundStatus.REFUND_STATUS_PROCESSING ||
      status === RefundStatus.REFUND_STATUS_SUCCEEDED;
    next(accepted ? undefined : `UNEXPECTED_REFUND_STATUS/${RefundStatus[status]}`);
  });

/** The payer pays attempt 1 in the sandbox (its out_trade_no is `<payment_id>a1`). */
const pay: Step = (it, next) => (it.sandbox === undefined ? next('NO_SANDBOX_URL') : it.sandbox.pay(`${it.payment_id}a1`, next));

/** GetPayment every poll_interval_ms until SUCCEEDED, a final other state, or the deadline. */
const succeeded: Step = (it, next) => {
  const poll = (): void =>
    it.target.unary(method_get, getBytes(it.template.shape.merchant_id, it.payment_id), (error, bytes) => {
      if (error !== null) return next(errorKey(error));
      const status = GetPaymentResponse.decode(bytes!).payment?.status ?? PaymentStatus.PAYMENT_STATUS_UNSPECIFIED;
      if (status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED) return next(undefined);
      if (status !== PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION && status !== PaymentStatus.PAYMENT_STATUS_PROCESSING) return next(`UNEXPECTED_STATUS/${PaymentStatus[status]}`);
      if (Date.now() > it.deadline_at) return next('TIMEOUT_WAITING_FOR_SUCCEEDED');
      setTimeout(poll, it.poll_interval_ms);
    });
  poll();
};

const create_pay_steps: readonly Step[] = [create, pay, succeeded];
/** A merchant's day: create, look it up, the payer pays, wait for SUCCEEDED, refund in full. */
const mix_steps: readonly Step[] = [create, get, pay, succeeded, refund];

function sequenceOf(steps: readonly Step[], target: Target, sandbox: SandboxClient | undefined, template: CreateTemplate, poll_interval_ms: number) {
  return (sequence: number, done: Done): void => {
    const it: Iteration = { sequence, payment_id: '', target, sandbox, template, poll_interval_ms, deadline_at: Date.now() + target.deadline_ms };
    let index = 0;
    const next: Done = (error_key) => {
      if (error_key !== undefined || index === steps.length) return done(error_key);
      steps[index++]!(it, next);
    };
    next(undefined);
  };
}

// ---------------------------------------------------------------------------------------------

/** The sandbox's control API over keep-alive HTTP/1.1 (lighter than fetch per call). */
export class SandboxClient {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: sandbox_sockets_max });
  readonly #url: URL;

  constructor(base_url: string) {
    this.#url = new URL(base_url);
  }

  pay(out_trade_no: string, done: Done, retried = false): void {
    let answered = false;
    const answer: Done = (error_key) => {
      if (answered) return;
      answered = true;
      done(error_key);
    };
    const request = httpRequest(
      {
        agent: this.#agent,
        host: this.#url.hostname,
        port: this.#url.port,
        method: 'POST',
        path: `/sandbox/wechatpay/orders/${out_trade_no}/pay`,
        headers: { 'content-type': 'application/json', 'content-length': 2 },
        timeout: sandbox_timeout_ms,
      },
      (response) => {
        response.resume();
        response.once('end', () => answer(response.statusCode === 200 ? undefined : `SANDBOX_PAY/${response.statusCode}`));
      },
    );
    request.once('timeout', () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    request.once('error', (error: NodeJS.ErrnoException) => {
      // A kept-alive socket the sandbox closed as idle just as this request went out on it:
      // the request never reached it (Node's documented reuse race); paying is idempotent.
      if (!retried && request.reusedSocket && error.code === 'ECONNRESET') {
        answered = true;
        this.pay(out_trade_no, done, true);
        return;
      }
      answer(`SANDBOX_PAY/NETWORK_${error.code ?? 'ERROR'}`);
    });
    request.end('{}');
  }

  close(): void {
    this.#agent.destroy();
  }
}
