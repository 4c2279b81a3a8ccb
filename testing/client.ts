// A small promise-based client of PaymentService for the demo, tests and benchmarks. Its
// methods answer the Payment inside each RPC's response message; `raw` is the generated client.

import * as grpc from '@grpc/grpc-js';
import { channelCredentials, clientOptions, type ClientAuth } from './auth-client';
import {
  PaymentServiceClient,
  type ClosePaymentRequest,
  type CreatePaymentRequest,
  type GetPaymentRequest,
  type Payment,
  type WatchPaymentRequest,
  type WatchPaymentResponse,
  type BindCardRequest,
  type Binding,
  type Card,
} from '../proto/gen/paycore/v1/payment';

export class PaycoreClient {
  readonly raw: PaymentServiceClient;

  /** `auth`: a client certificate (mTLS) or an app key (testing/auth-client.ts). */
  constructor(address: string, auth: ClientAuth, options: grpc.ClientOptions = {}) {
    this.raw = new PaymentServiceClient(address, channelCredentials(auth), clientOptions(auth, options));
  }

  createPayment(request: Partial<CreatePaymentRequest>, deadline_ms = 30_000): Promise<Payment> {
    return unary<{ payment?: Payment }>((cb) =>
      this.raw.createPayment(fillCreate(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb),
    ).then(paymentOf);
  }

  getPayment(request: Partial<GetPaymentRequest>, deadline_ms = 10_000): Promise<Payment> {
    return unary<{ payment?: Payment }>((cb) =>
      this.raw.getPayment(fillRef(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb),
    ).then(paymentOf);
  }

  closePayment(request: Partial<ClosePaymentRequest>, deadline_ms = 30_000): Promise<Payment> {
    return unary<{ payment?: Payment }>((cb) =>
      this.raw.closePayment(fillRef(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb),
    ).then(paymentOf);
  }

  /** Collects WatchPayment until the stream ends, `until` says stop, or the deadline passes. */
  watch(request: Partial<WatchPaymentRequest>, deadline_ms: number, until?: (p: Payment) => boolean): Promise<Payment[]> {
    return this.watching(request, deadline_ms, until).all;
  }

  /** watch(), and `first`: the stream's first message, the snapshot. The server follows the
   * event log from the snapshot's sequence on, so once `first` has arrived every later change
   * is delivered: a test waits on it instead of sleeping before it changes the payment. */
  watching(request: Partial<WatchPaymentRequest>, deadline_ms: number, until?: (p: Payment) => boolean): { first: Promise<Payment>; all: Promise<Payment[]> } {
    let firstSeen!: (p: Payment) => void;
    let firstFailed!: (error: unknown) => void;
    const first = new Promise<Payment>((resolve, reject) => {
      firstSeen = resolve;
      firstFailed = reject;
    });
    first.catch(() => undefined); // a caller that only awaits `all` sees the error there
    const all = new Promise<Payment[]>((resolve, reject) => {
      const seen: Payment[] = [];
      const stream = this.raw.watchPayment(fillRef(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms });
      stream.on('data', (response: WatchPaymentResponse) => {
        const payment = paymentOf(response);
        seen.push(payment);
        if (seen.length === 1) firstSeen(payment);
        if (until?.(payment)) stream.cancel();
      });
      stream.on('end', () => {
        firstFailed(new Error('the watch ended without a message'));
        resolve(seen);
      });
      stream.on('error', (error: grpc.ServiceError) => {
        firstFailed(error);
        if (error.code === grpc.status.CANCELLED) resolve(seen);
        else reject(Object.assign(error, { seen }));
      });
    });
    return { first, all };
  }

  /** BindCard (绑卡): the binding, SMS_SENT. */
  bindCard(request: BindCardRequest, deadline_ms = 30_000): Promise<Binding> {
    return unary<{ binding?: Binding }>((cb) =>
      this.raw.bindCard(request, new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb),
    ).then((r) => r.binding!);
  }

  confirmBinding(merchant_id: string, binding_id: string, verification_code: string, deadline_ms = 30_000): Promise<Binding> {
    return unary<{ binding?: Binding }>((cb) =>
      this.raw.confirmBinding(
        { merchantId: merchant_id, bindingId: binding_id, verificationCode: verification_code },
        new grpc.Metadata(),
        { deadline: Date.now() + deadline_ms },
        cb,
      ),
    ).then((r) => r.binding!);
  }

  listCards(merchant_id: string, payer_id = '', deadline_ms = 10_000): Promise<Card[]> {
    return unary<{ cards: Card[] }>((cb) =>
      this.raw.listCards({ merchantId: merchant_id, payerId: payer_id }, new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb),
    ).then((r) => r.cards);
  }

  unbindCard(merchant_id: string, card_token: string, deadline_ms = 30_000): Promise<void> {
    return unary<unknown>((cb) =>
      this.raw.unbindCard(
        { merchantId: merchant_id, cardToken: card_token },
        new grpc.Metadata(),
        { deadline: Date.now() + deadline_ms },
        cb,
      ),
    ).then(() => undefined);
  }

  close(): void {
    this.raw.close();
  }
}

function unary<T>(call: (cb: (error: grpc.ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((error, value) => (error === null ? resolve(value as T) : reject(error))));
}

/** The payment of a response; the server always sets it, so its absence is a broken peer. */
export function paymentOf(response: { payment?: Payment | undefined }): Payment {
  if (response.payment === undefined) throw new Error('paycore answered without a payment');
  return response.payment;
}

function fillRef<T extends Partial<GetPaymentRequest>>(request: T): GetPaymentRequest {
  return { paymentId: '', merchantId: '', merchantOrderNo: '', ...request };
}

function fillCreate(request: Partial<CreatePaymentRequest>): CreatePaymentRequest {
  return {
    merchantId: '',
    merchantOrderNo: '',
    amount: 0n,
    currency: '',
    product: 0,
    subject: '',
    payer: undefined,
    notifyUrl: '',
    expireSeconds: 0,
    routeHints: undefined,
    metadata: {},
    splitRules: [],
    ...request,
  };
}
