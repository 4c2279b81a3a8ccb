// A merchant's mix: create, query, close — one sequence per iteration.
// Refunds answer UNIMPLEMENTED today; when CreateRefund lands, add one `refund` step to
// `steps` (after paying, as in create-pay.ts). k6 run -e PAYCORE_ADDR=... bench/k6/mix.ts

import { check } from 'k6';
import { call, createRequest, merchant_id, openModel, orderNo, p99_ms, runId, type Payment } from './lib.ts';

export const options = openModel('mix', {
  'grpc_req_duration{name:CreatePayment}': [`p(99)<${p99_ms}`],
  'grpc_req_duration{name:GetPayment}': [`p(99)<${p99_ms}`],
  'grpc_req_duration{name:ClosePayment}': [`p(99)<${p99_ms}`],
});

type Step = (payment: Payment) => Payment | undefined;

const steps: Step[] = [
  (p) => call('GetPayment', { merchant_id, payment_id: p.paymentId }, (got) => got.paymentId === p.paymentId),
  (p) => call('ClosePayment', { merchant_id, payment_id: p.paymentId }, (closed) => closed.status === 'PAYMENT_STATUS_CLOSED'),
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
