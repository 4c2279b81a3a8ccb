// How a client authenticates to paycore: TLS with a client certificate (mTLS, preferred), or
// TLS plus the app-key signature on every request, or (development only) plaintext with the
// app-key signature. Used by the CLI, the demo, the tests and the load driver.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { signRequest, type AppKeyCredentials } from '../core/auth/app-key';

export interface ClientAuth {
  /** CA bundle the server's certificate must chain to; absent = plaintext (dev only). */
  ca?: Buffer;
  /** Client certificate and key (mTLS). */
  cert?: Buffer;
  key?: Buffer;
  /** Signs every request when set (callers without a client certificate). */
  app_key?: AppKeyCredentials;
  /** The name the server's certificate is checked against (default: the target's host). */
  server_name?: string;
}

/** Adds the app-key headers to every call. Unary and server-streaming calls sign the bytes of
 * their one request, so `start` waits for the message before sending the metadata. */
export function appKeyInterceptor(key: AppKeyCredentials): grpc.Interceptor {
  return (options, nextCall) => {
    const definition = options.method_definition;
    let pending: { metadata: grpc.Metadata; listener: grpc.Listener; next: (m: grpc.Metadata, l: grpc.Listener) => void } | undefined;
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (definition.requestStream) {
          signRequest(metadata, key, definition.path, new Uint8Array(0));
          next(metadata, listener);
        } else {
          pending = { metadata, listener, next };
        }
      },
      sendMessage(message, next) {
        if (pending !== undefined) {
          signRequest(pending.metadata, key, definition.path, definition.requestSerialize(message));
          pending.next(pending.metadata, pending.listener);
          pending = undefined;
        }
        next(message);
      },
    });
  };
}

export function channelCredentials(auth: ClientAuth): grpc.ChannelCredentials {
  if (auth.ca === undefined) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(auth.ca, auth.key ?? null, auth.cert ?? null);
}

export function clientOptions(auth: ClientAuth, options: grpc.ClientOptions = {}): grpc.ClientOptions {
  const out: grpc.ClientOptions = { ...options };
  if (auth.server_name !== undefined) out['grpc.ssl_target_name_override'] = auth.server_name;
  if (auth.app_key !== undefined) out.interceptors = [...(options.interceptors ?? []), appKeyInterceptor(auth.app_key)];
  return out;
}

/** A generic grpc-js client of any service definition, authenticated. */
export function makeClient<T extends grpc.Client>(
  definition: grpc.ServiceDefinition,
  name: string,
  address: string,
  auth: ClientAuth,
  options: grpc.ClientOptions = {},
): T {
  const Client = grpc.makeGenericClientConstructor(definition, name);
  return new Client(address, channelCredentials(auth), clientOptions(auth, options)) as unknown as T;
}

/** A client certificate's files (PEM). */
export function certAuth(ca_file: string, cert_file: string, key_file: string, server_name = 'localhost'): ClientAuth {
  return { ca: readFileSync(ca_file), cert: readFileSync(cert_file), key: readFileSync(key_file), server_name };
}

/** From the environment: PAYCORE_TLS_CA, PAYCORE_TLS_CERT, PAYCORE_TLS_KEY (mTLS), or
 * PAYCORE_APP_ID, PAYCORE_APP_KEY_ID, PAYCORE_APP_KEY (app key, with PAYCORE_TLS_CA, or
 * plaintext when PAYCORE_GRPC_INSECURE=1). Without any, the development files `make dev`
 * writes under `dev_dir` (.dev/tls: the demo app's certificate). */
export function clientAuthFromEnv(env: Record<string, string | undefined> = process.env, dev_dir = '.dev'): ClientAuth {
  const tls_dir = path.join(dev_dir, 'tls');
  const ca_file = env.PAYCORE_TLS_CA ?? path.join(tls_dir, 'ca.pem');
  const server_name = env.PAYCORE_TLS_SERVER_NAME ?? 'localhost';
  const insecure = env.PAYCORE_GRPC_INSECURE === '1';
  if (env.PAYCORE_APP_ID !== undefined && env.PAYCORE_APP_KEY !== undefined) {
    const app_key = { app_id: env.PAYCORE_APP_ID, key_id: env.PAYCORE_APP_KEY_ID ?? '', secret: env.PAYCORE_APP_KEY };
    return insecure ? { app_key } : { ca: readFileSync(ca_file), app_key, server_name };
  }
  const cert_file = env.PAYCORE_TLS_CERT ?? path.join(tls_dir, 'apps', 'demo.pem');
  const key_file = env.PAYCORE_TLS_KEY ?? path.join(tls_dir, 'apps', 'demo.key');
  for (const file of [ca_file, cert_file, key_file]) {
    if (!existsSync(file)) throw new Error(`no client credentials: ${file} is missing (run make dev, or set PAYCORE_TLS_CA/CERT/KEY or PAYCORE_APP_ID/KEY_ID/KEY)`);
  }
  return certAuth(ca_file, cert_file, key_file, server_name);
}
