// What the profit-sharing integration tests share: paycore (node dist/workers/main.js) with a
// WeChat Pay channel `wxps` configured for profit sharing as the only route of WECHAT_NATIVE,
// the sandbox PSP over HTTP, the books in a PostgreSQL database of the run's own, a SplitService
// client, and the steps every such test takes (a paid payment, the sandbox's profit-sharing orders).

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore } from '../core/ledger/store';
import { split_service } from '../core/gateway/splits';
import { PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { eventually, routingTable, sandboxRoute, startStack, type Stack } from './harness';

type SplitClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export interface SandboxOrder { out_order_no: string; order_id: string; state: string; finishes: boolean; unfrozen?: number; requests: number }

export interface ProfitSharingStack {
  merchant: string;
  stack: Stack;
  store: LedgerStore;
  /** One SplitService call. */
  call<T>(method: string, request: unknown): Promise<T>;
  /** A WECHAT_NATIVE payment of `amount` paid at the sandbox, seen SUCCEEDED, and in the books
   * (a split made before the books have it waits PENDING for its next follow-up). */
  paidPayment(amount: bigint): Promise<Payment>;
  /** The sandbox's profit-sharing orders of one payment attempt. */
  ordersAtSandbox(attempt_id: string): Promise<SandboxOrder[]>;
  stop(): Promise<void>;
}

export async function startProfitSharingStack(env: Record<string, string>): Promise<ProfitSharingStack> {
  const merchant = 'm_it';
  const db: TestDatabase = await createTestDatabase({ migrate: false }); // paycore migrates it at boot
  const stack = await startStack({
    routing: routingTable([sandboxRoute('wxps', ['WECHAT_NATIVE'])]),
    env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0', ...env },
    extra_channels: (settings) => [{ channel_id: 'wxps', provider: 'wechatpay', products: ['WECHAT_NATIVE'], settings: { ...settings, profit_sharing: 'true' } }],
  });
  const store = new LedgerStore(db.url);
  const client = stack.serviceClient<SplitClient>(split_service, 'SplitService');
  return {
    merchant, stack, store,
    call: <T>(method: string, request: unknown) =>
      new Promise<T>((resolve, reject) => client[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value)))),
    async paidPayment(amount) {
      const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `ps-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'profit sharing' });
      await stack.pay(`${payment.paymentId}a1`);
      const paid = await eventually(async () => {
        const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
        return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
      }, 10_000, 'payment SUCCEEDED');
      await eventually(async () => {
        const row = await store.pool.query<{ status: string }>('SELECT status FROM payments WHERE payment_id = $1', [payment.paymentId]);
        return row.rows[0]?.status === 'SUCCEEDED' ? true : undefined;
      }, 10_000, 'payment SUCCEEDED in the books');
      return paid;
    },
    async ordersAtSandbox(attempt_id) {
      return ((await (await fetch(`${stack.sandbox.url}/sandbox/wechatpay/profitsharing?out_trade_no_prefix=${attempt_id}`)).json()) as { orders: SandboxOrder[] }).orders;
    },
    async stop() {
      client.close();
      await stack.stop();
      await store.close();
      await db.drop();
    },
  };
}
