// A small promise-based client of PaymentService for the demo, tests and benchmarks.

import * as grpc from '@grpc/grpc-js';
import {
  PaymentServiceClient,
  type ClosePaymentRequest,
  type CreatePaymentRequest,
  type GetPaymentRequest,
  type Payment,
} from '../../proto/gen/paycore/v1/payment';

export class PaycoreClient {
  readonly raw: PaymentServiceClient;

  constructor(address: string, options: grpc.ClientOptions = {}) {
    this.raw = new PaymentServiceClient(address, grpc.credentials.createInsecure(), options);
  }

  createPayment(request: Partial<CreatePaymentRequest>, deadline_ms = 30_000): Promise<Payment> {
    return unary((cb) => this.raw.createPayment(fillCreate(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb));
  }

  getPayment(request: Partial<GetPaymentRequest>, deadline_ms = 10_000): Promise<Payment> {
    return unary((cb) => this.raw.getPayment(fillRef(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb));
  }

  closePayment(request: Partial<ClosePaymentRequest>, deadline_ms = 30_000): Promise<Payment> {
    return unary((cb) => this.raw.closePayment(fillRef(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms }, cb));
  }

  /** Collects WatchPayment until the stream ends, `until` says stop, or the deadline passes. */
  watch(request: Partial<GetPaymentRequest>, deadline_ms: number, until?: (p: Payment) => boolean): Promise<Payment[]> {
    return new Promise((resolve, reject) => {
      const seen: Payment[] = [];
      const stream = this.raw.watchPayment(fillRef(request), new grpc.Metadata(), { deadline: Date.now() + deadline_ms });
      stream.on('data', (payment: Payment) => {
        seen.push(payment);
        if (until?.(payment)) stream.cancel();
      });
      stream.on('end', () => resolve(seen));
      stream.on('error', (error: grpc.ServiceError) => (error.code === grpc.status.CANCELLED ? resolve(seen) : reject(Object.assign(error, { seen }))));
    });
  }

  close(): void {
    this.raw.close();
  }
}

function unary<T>(call: (cb: (error: grpc.ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((error, value) => (error === null ? resolve(value as T) : reject(error))));
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
    ...request,
  };
}
