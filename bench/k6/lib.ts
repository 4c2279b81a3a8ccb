// Shared by the k6 scripts: the gRPC client on paycore's contract, the request shape, the
// sandbox pay call, and the metrics their thresholds read. Configuration comes from the
// environment (k6 -e NAME=value): PAYCORE_ADDR (127.0.0.1:50051), SANDBOX_URL
// (http://127.0.0.1:8090), RATE (per second), DURATION (e.g. 30s), P99_MS (50), MERCHANT_ID,
// TLS_DIR (../../.dev/tls: the CA and the client certificate `make dev` issues) and APP (demo):
// k6 calls as that app with its client certificate (mTLS), like every paycore caller.

import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import grpc from 'k6/net/grpc';
import { sleep } from 'k6';
import type { Options } from 'k6/options';

export const paycore_addr = __ENV.PAYCORE_ADDR || '127.0.0.1:50051';
export const sandbox_url = __ENV.SANDBOX_URL || 'http://127.0.0.1:8090';
export const merchant_id = __ENV.MERCHANT_ID || 'm_k6';
export const rate_per_second = Number(__ENV.RATE || '50');
export const duration = __ENV.DURATION || '30s';
export const p99_ms = Number(__ENV.P99_MS || '50');
const tls_dir = __ENV.TLS_DIR || '../../.dev/tls';
const app = __ENV.APP || 'demo';

export const service = 'paycore.v1.PaymentService';

/** Operations that did not end as the scenario expects (any gRPC error, wrong status). */
export const paycore_errors = new Rate('paycore_errors');
/** create → SUCCEEDED, ms (create_pay). */
export const create_to_succeeded = new Trend('create_to_succeeded', true);
export const polls = new Counter('succeeded_polls');

// Must run in the init context: k6 reads the .proto files once per VU. The path is relative
// to this script (bench/k6/ → proto/).
const client = new grpc.Client();
client.load(['../../proto'], 'paycore/v1/payment.proto');
// Also read once in the init context (open() is not available later).
const tls = { cacerts: open(`${tls_dir}/ca.pem`), cert: open(`${tls_dir}/apps/${app}.pem`), key: open(`${tls_dir}/apps/${app}.key`) };

let connected = false;

export function connect(): grpc.Client {
  if (!connected) {
    client.connect(paycore_addr, { tls, timeout: '5s' });
    connected = true;
  }
  return client;
}

/** Open model: `rate_per_second` arrivals whatever the latency (k6 adds VUs up to maxVUs). */
export function openModel(exec_name: string, thresholds: Options['thresholds']): Options {
  return {
    scenarios: {
      [exec_name]: {
        executor: 'constant-arrival-rate',
        exec: 'default',
        rate: rate_per_second,
        timeUnit: '1s',
        duration,
        preAllocatedVUs: Math.max(10, Math.ceil(rate_per_second / 10)),
        maxVUs: Math.max(50, rate_per_second * 2),
      },
    },
    thresholds: { paycore_errors: ['rate<0.001'], dropped_iterations: ['count==0'], ...thresholds },
    summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max'],
  };
}

export interface Payment {
  paymentId: string;
  merchantOrderNo: string;
  amount: string;
  status: string;
  version: string;
  nextAction?: { type: string; value: string };
}

/** A merchant order number unique across the run and every VU: run id from setup(). */
export function orderNo(run_id: string): string {
  return `k6-${run_id}-${exec.scenario.iterationInTest}`;
}

export function createRequest(merchant_order_no: string): Record<string, unknown> {
  return {
    merchant_id: merchant_id,
    merchant_order_no,
    amount: '1999',
    currency: 'CNY',
    product: 'PRODUCT_WECHAT_NATIVE',
    subject: 'k6: jasmine tea 250g',
    notify_url: 'https://merchant.example.com/paycore/notify',
    metadata: { shop: 'k6-shop-01' },
  };
}

/** Invokes one unary call and answers the Payment of its response message ({ payment });
 * counts anything but OK (and a failed expectation) as an error. */
export function call(method: string, request: Record<string, unknown>, expect?: (p: Payment) => boolean): Payment | undefined {
  const response = connect().invoke(`${service}/${method}`, request, { tags: { name: method }, timeout: '10s' });
  const payment = (response.message as { payment?: Payment } | null)?.payment ?? null;
  const ok = response.status === grpc.StatusOK && payment !== null && (expect === undefined || expect(payment));
  paycore_errors.add(!ok, { method });
  return ok ? (payment ?? undefined) : undefined;
}

/** CreateRefund of the whole amount (merchant_refund_no derived from the payment id); true
 * when accepted (PENDING / PROCESSING) or already SUCCEEDED. */
export function refundFull(payment: Payment): boolean {
  const request = { merchant_id, merchant_refund_no: `${payment.paymentId}-r1`, payment_id: payment.paymentId, amount: payment.amount, reason: 'k6' };
  const response = connect().invoke(`${service}/CreateRefund`, request, { tags: { name: 'CreateRefund' }, timeout: '10s' });
  const status = (response.message as { refund?: { status?: string } } | null)?.refund?.status ?? '';
  const ok = response.status === grpc.StatusOK && ['REFUND_STATUS_PENDING', 'REFUND_STATUS_PROCESSING', 'REFUND_STATUS_SUCCEEDED'].includes(status);
  paycore_errors.add(!ok, { method: 'CreateRefund' });
  return ok;
}

/** The payer pays attempt 1 in the sandbox (its out_trade_no is `<payment_id>a1`). */
export function sandboxPay(payment_id: string): boolean {
  const response = http.post(`${sandbox_url}/sandbox/wechatpay/orders/${payment_id}a1/pay`, '{}', {
    headers: { 'content-type': 'application/json' },
    tags: { name: 'sandbox_pay' },
  });
  const ok = response.status === 200;
  paycore_errors.add(!ok, { method: 'sandbox_pay' });
  return ok;
}

/** GetPayment every `interval_s` until SUCCEEDED (true) or `timeout_s` passes (false). */
export function awaitSucceeded(payment_id: string, interval_s = 0.05, timeout_s = 10): boolean {
  const deadline = Date.now() + timeout_s * 1000;
  while (Date.now() < deadline) {
    const payment = call('GetPayment', { merchant_id, payment_id });
    polls.add(1);
    if (payment === undefined) return false;
    if (payment.status === 'PAYMENT_STATUS_SUCCEEDED') return true;
    if (payment.status !== 'PAYMENT_STATUS_REQUIRES_ACTION' && payment.status !== 'PAYMENT_STATUS_PROCESSING') break;
    sleep(interval_s);
  }
  paycore_errors.add(true, { method: 'await_succeeded' });
  return false;
}

export function runId(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}
