// One delivery attempt: a signed JSON POST to the merchant's notify URL. Success is a 2xx
// status within the timeout; anything else (another status, a redirect — never followed —, a
// timeout, a network error, a destination the policy forbids) is a failure described by a
// short code that never contains the response body.

import { Agent, request } from 'undici';
import { notify_response_bytes_max } from './constants';
import { checkedLookup, urlProblem, type DestinationPolicy, type Resolve } from './destination';
import { signature_header, signatureHeader } from './signature';

export interface DeliveryRequest {
  url: string;
  body: string;
  notification_id: string;
  /** 1-based, sent to the merchant for its logs. */
  attempt_no: number;
  secret: string;
  timeout_ms: number;
}

export type DeliveryResult = { ok: true; status: number } | { ok: false; error: string };

export function createNotifyAgent(timeout_ms: number, policy: DestinationPolicy, resolve?: Resolve): Agent {
  // A connect or read that outlives the attempt's timeout is abandoned with it. Every
  // connection resolves its host through checkedLookup: checked, and pinned to the address
  // checked. No redirects (undici's request follows none unless told to).
  return new Agent({
    connect: { timeout: timeout_ms, lookup: checkedLookup(policy, resolve) },
    headersTimeout: timeout_ms,
    bodyTimeout: timeout_ms,
    keepAliveTimeout: 10_000,
  });
}

export async function deliver(agent: Agent, policy: DestinationPolicy, delivery: DeliveryRequest): Promise<DeliveryResult> {
  // Again at delivery: the URL was accepted under the policy of its time, and an address
  // written in it is never looked up (so checkedLookup does not see it).
  let url: URL;
  try {
    url = new URL(delivery.url);
  } catch {
    return { ok: false, error: 'invalid_url' };
  }
  if (urlProblem(url, policy) !== undefined) return { ok: false, error: 'FORBIDDEN_DESTINATION' };
  const signal = AbortSignal.timeout(delivery.timeout_ms);
  let status: number;
  try {
    const response = await request(delivery.url, {
      method: 'POST',
      dispatcher: agent,
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'paycore-notify/1',
        [signature_header]: signatureHeader(delivery.secret, delivery.body),
        'paycore-notification-id': delivery.notification_id,
        'paycore-attempt': String(delivery.attempt_no),
      },
      body: delivery.body,
    });
    status = response.statusCode;
    // The answer is the status; the body is read (bounded) only to free the connection.
    void response.body.dump({ limit: notify_response_bytes_max, signal }).catch(() => undefined);
  } catch (error) {
    return { ok: false, error: errorCode(error, signal) };
  }
  return status >= 200 && status < 300 ? { ok: true, status } : { ok: false, error: `http_${status}` };
}

/** A short, secret-free description: `timeout`, a network code (`ECONNREFUSED`), the error class. */
function errorCode(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timeout';
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
    if (typeof code === 'string' && /^[A-Z0-9_]{1,48}$/.test(code)) return code;
    if (error.name === 'InvalidArgumentError' || error instanceof TypeError) return 'invalid_url';
    return error.name.slice(0, 48);
  }
  return 'unknown_error';
}
