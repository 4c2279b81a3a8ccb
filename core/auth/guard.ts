// Every service but health goes through here: each handler runs only after the Authenticator
// accepted the caller for that method; the handler reads the caller with callerOf(call).
// `guardedServer(server, …)` wraps addService, so services registered by libraries (server
// reflection) are guarded the same way as ours.

import * as grpc from '@grpc/grpc-js';
import { PaycoreError, toServiceError } from '../errors';
import type { Logger } from '../log';
import type { Authenticator, Caller } from './authenticator';
import { open_services, serviceOf } from './policy';

/** The bytes each request arrived as: the app-key signature covers them, not a re-encoding. */
const raw_requests = new WeakMap<object, Buffer>();
const callers = new WeakMap<object, Caller>();
const no_body = new Uint8Array(0);

/** The authenticated caller of a call the guard let through. */
export function callerOf(call: object): Caller {
  const caller = callers.get(call);
  if (caller === undefined) throw new PaycoreError('INTERNAL', 'handler reached without an authenticated caller');
  return caller;
}

/** Counts refusals (reason label: UNAUTHENTICATED, FORBIDDEN). */
export type OnRefusal = (reason: string, path: string) => void;

function keepRawRequests(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [key, method] of Object.entries(definition)) {
    if (method.requestStream) {
      out[key] = method;
      continue;
    }
    const deserialize = method.requestDeserialize;
    out[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        const message = deserialize(bytes);
        if (typeof message === 'object' && message !== null) raw_requests.set(message, bytes);
        return message;
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

type AnyCall =
  | grpc.ServerUnaryCall<unknown, unknown>
  | grpc.ServerWritableStream<unknown, unknown>
  | grpc.ServerReadableStream<unknown, unknown>
  | grpc.ServerDuplexStream<unknown, unknown>;

function serviceError(error: unknown, log: Logger, path: string): grpc.ServiceError {
  if (error instanceof PaycoreError) return Object.assign(new Error(error.message), toServiceError(error)) as grpc.ServiceError;
  log.error({ method: path, err: String(error) }, 'authentication failed unexpectedly');
  return Object.assign(new Error('internal error'), toServiceError(new PaycoreError('INTERNAL', 'internal error'))) as grpc.ServiceError;
}

function guardHandler(
  method: grpc.MethodDefinition<unknown, unknown>,
  handler: (...args: never[]) => void,
  auth: Authenticator,
  log: Logger,
  on_refusal: OnRefusal,
): (...args: never[]) => void {
  const path = method.path;
  const admit = async (call: AnyCall): Promise<void> => {
    const body = method.requestStream ? no_body : (raw_requests.get((call as grpc.ServerUnaryCall<object, unknown>).request) ?? no_body);
    const caller = await auth.authorize({ path, metadata: call.metadata, auth_context: call.getAuthContext(), body });
    callers.set(call, caller);
  };
  const refused = (error: unknown): grpc.ServiceError => {
    const reason = error instanceof PaycoreError ? error.reason : 'INTERNAL';
    on_refusal(reason, path);
    if (error instanceof PaycoreError) log.warn({ method: path, reason, err: error.detail }, 'call refused');
    return serviceError(error, log, path);
  };
  if (method.responseStream) {
    return ((call: grpc.ServerWritableStream<unknown, unknown>) => {
      admit(call).then(
        () => (handler as (c: typeof call) => void)(call),
        // emit('error') sends the status at once; destroy() would leave the client waiting.
        (error: unknown) => call.emit('error', refused(error)),
      );
    }) as (...args: never[]) => void;
  }
  return ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    admit(call).then(
      () => (handler as (c: typeof call, cb: typeof callback) => void)(call, callback),
      (error: unknown) => callback(refused(error), null),
    );
  }) as (...args: never[]) => void;
}

/** A Server whose addService guards every service but the open ones (health). */
export function guardedServer(server: grpc.Server, auth: Authenticator, log: Logger, on_refusal: OnRefusal = () => undefined): Pick<grpc.Server, 'addService'> {
  return {
    addService(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
      const first = Object.values(definition)[0];
      if (first === undefined || open_services.has(serviceOf(first.path))) {
        server.addService(definition, implementation);
        return;
      }
      const guarded: grpc.UntypedServiceImplementation = {};
      for (const [key, method] of Object.entries(definition)) {
        const handler = (implementation[key] ?? implementation[method.originalName ?? '']) as ((...args: never[]) => void) | undefined;
        if (handler === undefined) continue;
        guarded[key] = guardHandler(method, handler, auth, log, on_refusal) as grpc.UntypedHandleCall;
      }
      server.addService(keepRawRequests(definition), guarded);
    },
  };
}

