// The ceiling: a grpc-js server, in its own process, implementing PaymentService.CreatePayment
// with no work behind it. It decodes each request and encodes a canned response shaped like
// paycore's answer to a WeChat Native create (same fields, same sizes), echoing the merchant's
// order number, so the load driver measures what grpc-js and protobuf alone cost at these
// message sizes. It serves TLS exactly as paycore does (core/auth/tls.ts, the same certificate
// files, PAYCORE_GRPC_TLS_CERT / _KEY / PAYCORE_GRPC_CLIENT_CA), so the ceiling includes the
// transport's cost; without them it serves plaintext.
// `node dist/bench/echo-server.js` (ECHO_HOST, ECHO_PORT; 0 = any free port);
// prints {"event":"echo_listening","port":N} when ready; stops on SIGTERM / SIGINT.

import * as grpc from '@grpc/grpc-js';
import { listenPlain, listenTls } from '../core/auth/tls';
import type { TlsFiles } from '../core/config';
import { createLogger } from '../core/log';
import {
  NextActionType, PaymentServiceService, PaymentStatus, Product,
  type CreatePaymentRequest, type CreatePaymentResponse, type Payment, type WatchPaymentResponse,
} from '../proto/gen/paycore/v1/payment';

/** A payment as paycore returns it after a WECHAT_NATIVE create (version 3, QR code). */
export function cannedPayment(request: Pick<CreatePaymentRequest, 'merchantId' | 'merchantOrderNo' | 'amount' | 'subject' | 'notifyUrl' | 'metadata'>): Payment {
  const now = new Date();
  return {
    paymentId: 'pabcdefghijklmnopqrstuvwxy',
    merchantId: request.merchantId,
    merchantOrderNo: request.merchantOrderNo,
    amount: request.amount,
    currency: 'CNY',
    product: Product.PRODUCT_WECHAT_NATIVE,
    subject: request.subject,
    status: PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION,
    channelId: 'wx1',
    channelTradeNo: '',
    nextAction: { type: NextActionType.NEXT_ACTION_TYPE_QR_CODE, value: 'weixin://wxpay/bizpayurl?pr=Abc1Def2Gh', params: {} },
    failure: undefined,
    refundedAmount: 0n,
    fee: 0n,
    version: 3n,
    createdAt: now,
    updatedAt: now,
    paidAt: undefined,
    expiresAt: new Date(now.getTime() + 1_800_000),
    metadata: request.metadata,
    notifyUrl: request.notifyUrl,
    duplicates: [],
  heldForReview: false,
  };
}

/** Calls in flight get this long when the echo server stops. */
const echo_drain_ms = 2_000;

export async function startEcho(host: string, port: number, tls?: TlsFiles): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<never>): void => callback({ code: grpc.status.UNIMPLEMENTED, details: 'echo serves CreatePayment only' });
  server.addService(PaymentServiceService, {
    createPayment: (call: grpc.ServerUnaryCall<CreatePaymentRequest, CreatePaymentResponse>, callback: grpc.sendUnaryData<CreatePaymentResponse>) =>
      callback(null, { payment: cannedPayment(call.request) }),
    getPayment: unimplemented,
    closePayment: unimplemented,
    confirmPayment: unimplemented,
    createRefund: unimplemented,
    getRefund: unimplemented,
    listPaymentOptions: unimplemented,
    watchPayment: (call: grpc.ServerWritableStream<unknown, WatchPaymentResponse>) => call.destroy(Object.assign(new Error('echo serves CreatePayment only'), { code: grpc.status.UNIMPLEMENTED })),
  });
  const listener = tls === undefined ? await listenPlain(server, host, port) : await listenTls(server, host, port, tls, createLogger('warn', { thread: 'echo' }));
  return {
    port: listener.port,
    close: async () => {
      const closed = listener.close(echo_drain_ms);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await closed;
    },
  };
}

if (require.main === module) {
  const port = Number(process.env.ECHO_PORT ?? '0');
  const env = process.env;
  const tls = env.PAYCORE_GRPC_TLS_CERT === undefined ? undefined : { cert_file: env.PAYCORE_GRPC_TLS_CERT, key_file: env.PAYCORE_GRPC_TLS_KEY ?? '', client_ca_file: env.PAYCORE_GRPC_CLIENT_CA ?? '' };
  startEcho(env.ECHO_HOST || '127.0.0.1', port, tls).then(
    ({ port: bound, close }) => {
      process.stdout.write(`${JSON.stringify({ event: 'echo_listening', port: bound })}\n`);
      const stop = (): void => void close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (error: Error) => {
      process.stderr.write(`echo server failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
