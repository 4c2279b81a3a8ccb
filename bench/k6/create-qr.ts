// CreatePayment, WeChat Native (QR), a unique merchant order number per request, at a fixed
// arrival rate. k6 run -e PAYCORE_ADDR=127.0.0.1:50051 -e RATE=100 bench/k6/create-qr.ts

import { check } from 'k6';
import { call, createRequest, openModel, orderNo, p99_ms, runId } from './lib.ts';

export const options = openModel('create_qr', {
  'grpc_req_duration{name:CreatePayment}': [`p(99)<${p99_ms}`],
});

export function setup(): { run_id: string } {
  return { run_id: runId() };
}

export default function (data: { run_id: string }): void {
  const payment = call('CreatePayment', createRequest(orderNo(data.run_id)), (p) => p.status === 'PAYMENT_STATUS_REQUIRES_ACTION');
  check(payment, {
    'REQUIRES_ACTION with a QR code': (p) => p !== undefined && p.nextAction?.type === 'QR_CODE' && p.nextAction.value.startsWith('weixin://'),
  });
}
