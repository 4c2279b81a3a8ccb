// Idempotent replays: setup() creates KEYS payments; every iteration replays one of them with
// identical parameters and must get the same payment back, unchanged (no second provider order).
// k6 run -e PAYCORE_ADDR=... -e KEYS=16 bench/k6/replay.ts

import { check } from 'k6';
import { call, connect, createRequest, openModel, orderNo, p99_ms, runId, type Payment } from './lib.ts';
import exec from 'k6/execution';

const keys = Number(__ENV.KEYS || '16');

export const options = openModel('replay', {
  'grpc_req_duration{name:CreatePayment}': [`p(99)<${p99_ms}`],
});

interface Key {
  merchant_order_no: string;
  payment_id: string;
  version: string;
}

export function setup(): { keys: Key[] } {
  connect();
  const run_id = runId();
  const created: Key[] = [];
  for (let i = 0; i < keys; i++) {
    const merchant_order_no = `${orderNo(run_id)}-${i}`;
    const payment = call('CreatePayment', createRequest(merchant_order_no), (p) => p.status === 'PAYMENT_STATUS_REQUIRES_ACTION');
    if (payment === undefined) exec.test.abort(`could not create replay key ${merchant_order_no}`);
    else created.push({ merchant_order_no, payment_id: payment.paymentId, version: payment.version });
  }
  return { keys: created };
}

export default function (data: { keys: Key[] }): void {
  const key = data.keys[exec.scenario.iterationInTest % data.keys.length]!;
  const same = (p: Payment): boolean => p.paymentId === key.payment_id && p.version === key.version;
  const payment = call('CreatePayment', createRequest(key.merchant_order_no), same);
  check(payment, { 'the same payment, unchanged': (p) => p !== undefined });
}
