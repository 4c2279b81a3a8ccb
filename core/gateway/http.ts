// The gateway's HTTP port: providers' asynchronous callbacks (`POST /notify/<channel_id>`),
// verified by the channel's adapter, fed to the payment's actor (a profit-sharing callback: to
// its split, core/splits), and answered in the provider's own format only once the result is
// durable.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChannelError, type Channel, type HttpAnswer } from '../../channels/channel';
import { notify_body_bytes_max } from '../constants';
import { PaycoreError } from '../errors';
import { paymentIdOfAttempt } from '../ids';
import type { Logger } from '../log';
import type { GatewayMetrics } from '../metrics';
import { toWireRefundStatus, toWireStatus } from '../orders/protocol';
import type { OrdersClient } from '../orders/api';
import type { SplitService } from '../splits/service';

export interface HttpDeps {
  host: string;
  port: number;
  channel(channel_id: string): Channel | undefined;
  /** The payments' actors (refund callbacks find their payment by the refund index). */
  orders: Pick<OrdersClient, 'send' | 'refundHolder'>;
  /** The splits (profit-sharing callbacks); absent where the gateway keeps no books. */
  splits?: Pick<SplitService, 'notified'>;
  healthy(): boolean;
  /** The Prometheus exposition of every thread. */
  metricsText(): Promise<string>;
  metrics: GatewayMetrics;
  log: Logger;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

const notify_path = /^\/notify\/([A-Za-z0-9_-]{1,32})(\/refund)?$/;

export async function startHttp(deps: HttpDeps): Promise<HttpServer> {
  const server: Server = createServer((request, response) => {
    void route(deps, request, response).catch((error: unknown) => {
      deps.log.error({ err: String(error) }, 'http handler failed');
      if (!response.headersSent) answer(response, { status: 500, headers: {}, body: '' });
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port, deps.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function route(deps: HttpDeps, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://gateway');
  if (request.method === 'GET' && url.pathname === '/healthz') {
    const ok = deps.healthy();
    return answer(response, { status: ok ? 200 : 503, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok }) });
  }
  if (request.method === 'GET' && url.pathname === '/metrics') {
    return answer(response, { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: await deps.metricsText() });
  }
  const match = notify_path.exec(url.pathname);
  if (request.method !== 'POST' || match === null) return answer(response, { status: 404, headers: {}, body: '' });
  const channel = deps.channel(match[1]!);
  if (channel === undefined) return answer(response, { status: 404, headers: {}, body: '' });
  const body = await readBody(request);
  if (body === undefined) return answer(response, channel.notificationAnswer(false));
  const reply = await notify(deps, channel, match[2] ?? '', request, body);
  deps.metrics.callbacks.inc({ channel: channel.channel_id, result: reply.status < 300 ? 'accepted' : 'refused' });
  answer(response, reply);
}

async function notify(deps: HttpDeps, channel: Channel, path_suffix: string, request: IncomingMessage, body: Buffer): Promise<HttpAnswer> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers[name] = value;
  let parsed;
  try {
    parsed = channel.parseNotification({ path_suffix, headers, body });
  } catch (error) {
    const code = error instanceof ChannelError ? error.code : 'PARSE_FAILED';
    deps.log.warn({ channel_id: channel.channel_id, code }, 'callback refused');
    return channel.notificationAnswer(false);
  }
  if (parsed.type === 'profit_sharing') return notifySplit(deps, channel, parsed.share_no, parsed.channel_trade_no);
  const payment_id = parsed.type === 'refund' ? await deps.orders.refundHolder(parsed.refund_id) : paymentIdOfAttempt(parsed.attempt_id);
  if (payment_id === undefined) {
    deps.log.warn({ channel_id: channel.channel_id, attempt_id: parsed.attempt_id }, 'callback for an attempt paycore did not make');
    return channel.notificationAnswer(false);
  }
  try {
    if (parsed.type === 'refund') {
      await deps.orders.send({ type: 'refund_notification', payment_id, channel_id: channel.channel_id, refund_id: parsed.refund_id, status: toWireRefundStatus(parsed.status) });
    } else {
      // The channel the callback arrived on goes along: it may only move that channel's attempts.
      await deps.orders.send({ type: 'notification', payment_id, channel_id: channel.channel_id, attempt_id: parsed.attempt_id, status: toWireStatus(parsed.status) });
    }
    return channel.notificationAnswer(true);
  } catch (error) {
    const reason = error instanceof PaycoreError ? error.reason : 'INTERNAL';
    deps.log.warn({ channel_id: channel.channel_id, payment_id, reason }, 'callback not applied; the provider will retry');
    return channel.notificationAnswer(false);
  }
}

/** A profit-sharing callback (verified): the split is queried now and the answer recorded
 * before the callback is acknowledged; one paycore did not make on this channel is refused. */
async function notifySplit(deps: HttpDeps, channel: Channel, share_no: string, channel_trade_no: string): Promise<HttpAnswer> {
  if (deps.splits === undefined) {
    deps.log.warn({ channel_id: channel.channel_id }, 'profit-sharing callback refused: this gateway keeps no books (PAYCORE_DATABASE_URL)');
    return channel.notificationAnswer(false);
  }
  try {
    if (await deps.splits.notified(channel.channel_id, share_no, channel_trade_no)) return channel.notificationAnswer(true);
    deps.log.warn({ channel_id: channel.channel_id, share_no }, 'profit-sharing callback for a split paycore did not make on this channel');
  } catch (error) {
    const reason = error instanceof PaycoreError ? error.reason : 'INTERNAL';
    deps.log.warn({ channel_id: channel.channel_id, share_no, reason }, 'profit-sharing callback not applied; the provider will retry');
  }
  return channel.notificationAnswer(false);
}

function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > notify_body_bytes_max) {
        request.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function answer(response: ServerResponse, reply: HttpAnswer): void {
  response.writeHead(reply.status, reply.headers);
  response.end(reply.body);
}
