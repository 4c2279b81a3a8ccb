// Create, the payer pays in the sandbox PSP (its callback reaches paycore), poll GetPayment
// until SUCCEEDED. create_to_succeeded is the whole span.
// k6 run -e PAYCORE_ADDR=... -e SANDBOX_URL=http://127.0.0.1:8090 -e RATE=50 bench/k6/create-pay.ts

import { check } from 'k6';
import { awaitSucceeded, call, create_to_succeeded, createRequest, openModel, orderNo, p99_ms, runId, sandboxPay } from './lib.ts';

/** Create → SUCCEEDED includes the sandbox's callback and the poll interval. */
const succeeded_p99_ms = Number(__ENV.SUCCEEDED_P99_MS || '250');

export const options = openModel('create_pay', {
  'grpc_req_duration{name:CreatePayment}': [`p(99)<${p99_ms}`],
  create_to_succeeded: [`p(99)<${succeeded_p99_ms}`],
});

export function setup(): { run_id: string } {
  return { run_id: runId() };
}

export default function (data: { run_id: string }): void {
  const started = Date.now();
  const payment = call('CreatePayment', createRequest(orderNo(data.run_id)), (p) => p.status === 'PAYMENT_STATUS_REQUIRES_ACTION');
  if (payment === undefined) return;
  if (!sandboxPay(payment.paymentId)) return;
  const succeeded = awaitSucceeded(payment.paymentId);
  if (succeeded) create_to_succeeded.add(Date.now() - started);
  check(succeeded, { 'SUCCEEDED after the sandbox pay': (s) => s });
}
