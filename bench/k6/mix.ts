// A merchant's mix: create, query, the payer pays in the sandbox PSP, wait for SUCCEEDED,
// refund the whole amount — one sequence per iteration.
// k6 run -e PAYCORE_ADDR=... -e SANDBOX_URL=http://127.0.0.1:8090 bench/k6/mix.ts

import { check } from 'k6';
import { awaitSucceeded, call, createRequest, merchant_id, openModel, orderNo, p99_ms, refundFull, runId, sandboxPay, type Payment } from './lib.ts';

export const options = openModel('mix', {
  'grpc_req_duration{name:CreatePayment}': [`p(99)<${p99_ms}`],
  'grpc_req_duration{name:GetPayment}': [`p(99)<${p99_ms}`],
  'grpc_req_duration{name:CreateRefund}': [`p(99)<${p99_ms}`],
});

type Step = (payment: Payment) => Payment | undefined;

const steps: Step[] = [
  (p) => call('GetPayment', { payment_id: p.paymentId, merchant_id }, (got) => got.paymentId === p.paymentId),
  (p) => (sandboxPay(p.paymentId) ? p : undefined),
  (p) => (awaitSucceeded(p.paymentId) ? p : undefined),
  (p) => (refundFull(p) ? p : undefined),
];

export function setup(): { run_id: string } {
  return { run_id: runId() };
}

export default function (data: { run_id: string }): void {
  let payment = call('CreatePayment', createRequest(orderNo(data.run_id)), (p) => p.status === 'PAYMENT_STATUS_REQUIRES_ACTION');
  for (const step of steps) {
    if (payment === undefined) break;
    payment = step(payment);
  }
  check(payment, { 'every step answered as expected': (p) => p !== undefined });
}
