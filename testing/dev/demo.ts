// A first payment, end to end: create a WeChat Native payment, show its QR code, pay it in
// the sandbox PSP (as a payer scanning it would), and watch paycore drive it to SUCCEEDED.
//   node dist/testing/dev/demo.js   (PAYCORE_GRPC=127.0.0.1:50051, SANDBOX_URL=http://127.0.0.1:8090)
// It calls as the demo app with the client certificate `make dev` issued (.dev/tls/apps/demo.*);
// PAYCORE_TLS_CA/CERT/KEY or PAYCORE_APP_ID/KEY_ID/KEY choose other credentials.

import { randomBytes } from 'node:crypto';
import { PaymentStatus, Product } from '../../proto/gen/paycore/v1/payment';
import { clientAuthFromEnv } from '../auth-client';
import { PaycoreClient } from '../client';

async function main(): Promise<void> {
  const address = process.env.PAYCORE_GRPC ?? '127.0.0.1:50051';
  const sandbox = process.env.SANDBOX_URL ?? 'http://127.0.0.1:8090';
  const client = new PaycoreClient(address, clientAuthFromEnv());
  const order_no = `demo-${Date.now()}-${randomBytes(3).toString('hex')}`;
  const payment = await client.createPayment({
    merchantId: 'demo_merchant',
    merchantOrderNo: order_no,
    amount: 1999n,
    currency: 'CNY',
    product: Product.PRODUCT_WECHAT_NATIVE,
    subject: 'paycore demo: one coffee',
  });
  console.log(`created ${payment.paymentId}: ${PaymentStatus[payment.status]}, ${payment.amount} fen via ${payment.channelId}`);
  console.log(`QR code for the payer: ${payment.nextAction?.value}`);
  const watching = client.watch({ paymentId: payment.paymentId, merchantId: 'demo_merchant' }, 60_000);
  const out_trade_no = `${payment.paymentId}a1`;
  const paid = await fetch(`${sandbox}/sandbox/wechatpay/orders/${out_trade_no}/pay`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  console.log(`sandbox: the payer paid (${paid.status})`);
  for (const update of await watching) {
    console.log(`watch: ${PaymentStatus[update.status]} (version ${update.version}${update.channelTradeNo ? `, channel trade no ${update.channelTradeNo}` : ''})`);
  }
  client.close();
}

main().catch((error: Error) => {
  console.error(`demo failed: ${error.message}`);
  process.exit(1);
});
