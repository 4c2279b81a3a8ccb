// Error vocabulary: status mapping, the grpc-status-details-bin trailer both ways (by hand and
// through a real grpc-js server and client), the NATS JSON form and assert.

import * as grpc from '@grpc/grpc-js';
import { callErrorFromStatus } from '@grpc/grpc-js/build/src/call';
import { BadRequest, ErrorInfo } from '../proto/gen/google/rpc/error_details';
import { Status } from '../proto/gen/google/rpc/status';
import {
  assert,
  bad_request_type_url,
  decodeServiceError,
  ErrorReason,
  errorFromWire,
  error_info_type_url,
  errorToWire,
  FieldViolation,
  grpcStatusOfReason,
  invalidFields,
  isErrorReason,
  PaycoreError,
  toServiceError,
} from './errors';

const all_reasons = Object.keys(grpcStatusOfReason) as ErrorReason[];

const violations: FieldViolation[] = [
  { field: 'amount', description: 'must be between 1 and 1000000000000 minor units' },
  { field: 'currency', description: 'must be an existing ISO 4217 alphabetic code in upper case, e.g. CNY' },
];

function serviceErrorOf(err: PaycoreError): grpc.ServiceError {
  const status = toServiceError(err);
  return callErrorFromStatus(
    { code: status.code!, details: status.details!, metadata: status.metadata! },
    'errors.test',
  );
}

function statusTrailer(err: PaycoreError): Status {
  const value = toServiceError(err).metadata!.get('grpc-status-details-bin')[0];
  expect(Buffer.isBuffer(value)).toBe(true);
  return Status.decode(value as Buffer);
}

describe('errors', () => {
  test('errors - maps every reason to the status of the docs/api.md table', () => {
    expect(grpcStatusOfReason).toEqual({
      INVALID_FIELD: grpc.status.INVALID_ARGUMENT,
      IDEMPOTENCY_KEY_REUSED: grpc.status.FAILED_PRECONDITION,
      NO_ROUTE: grpc.status.FAILED_PRECONDITION,
      RISK_BLOCKED: grpc.status.FAILED_PRECONDITION,
      ILLEGAL_STATE: grpc.status.FAILED_PRECONDITION,
      REFUND_EXCEEDS_PAID: grpc.status.FAILED_PRECONDITION,
      INSUFFICIENT_BALANCE: grpc.status.FAILED_PRECONDITION,
      NOT_FOUND: grpc.status.NOT_FOUND,
      FORBIDDEN: grpc.status.PERMISSION_DENIED,
      UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
      OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
      DEPENDENCY_DOWN: grpc.status.UNAVAILABLE,
      INTERNAL: grpc.status.INTERNAL,
      DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
    });
    expect(all_reasons).toHaveLength(14);
  });

  test.each(all_reasons)('errors - message of %s starts with the reason', (reason) => {
    const err = new PaycoreError(reason, 'something specific');
    expect(err.message).toBe(`${reason}: something specific`);
    expect(err.message.startsWith(reason)).toBe(true);
    expect(err.detail).toBe('something specific');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('PaycoreError');
    expect(err.violations).toEqual([]);
    expect(err.metadata).toEqual({});
    expect(toServiceError(err).code).toBe(grpcStatusOfReason[reason]);
    expect(toServiceError(err).details).toBe(err.message);
  });

  test('errors - invalidFields lists every bad field in the message', () => {
    const err = invalidFields(violations);
    expect(err.reason).toBe('INVALID_FIELD');
    expect(err.message).toBe(
      'INVALID_FIELD: amount must be between 1 and 1000000000000 minor units; ' +
        'currency must be an existing ISO 4217 alphabetic code in upper case, e.g. CNY',
    );
    expect(err.violations).toEqual(violations);
  });

  test('errors - invalidFields bounds the message, not the BadRequest', () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ field: `f${i}`, description: 'is bad' }));
    const err = invalidFields(many);
    expect(err.message).toMatch(/; and 15 more \(see BadRequest\)$/);
    expect(decodeServiceError(serviceErrorOf(err)).violations).toEqual(many);
  });

  test('errors - trailer holds ErrorInfo and BadRequest with the google type URLs', () => {
    const err = new PaycoreError('INVALID_FIELD', 'bad', violations, { merchant_id: 'm1' });
    const status = statusTrailer(err);
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.message).toBe('INVALID_FIELD: bad');
    expect(status.details.map((d) => d.typeUrl)).toEqual([
      'type.googleapis.com/google.rpc.ErrorInfo',
      'type.googleapis.com/google.rpc.BadRequest',
    ]);
    expect(status.details[0]!.typeUrl).toBe(error_info_type_url);
    expect(status.details[1]!.typeUrl).toBe(bad_request_type_url);
    expect(ErrorInfo.decode(status.details[0]!.value)).toEqual({
      reason: 'INVALID_FIELD',
      domain: 'paycore.v1',
      metadata: { merchant_id: 'm1' },
    });
    expect(BadRequest.decode(status.details[1]!.value).fieldViolations).toEqual(violations);
  });

  test('errors - trailer has no BadRequest without violations', () => {
    const status = statusTrailer(new PaycoreError('NO_ROUTE', 'no channel can take CNY 1.00 now'));
    expect(status.details.map((d) => d.typeUrl)).toEqual([error_info_type_url]);
  });

  test.each(all_reasons)('errors - %s survives toServiceError then decodeServiceError', (reason) => {
    const err = new PaycoreError(reason, 'detail text', reason === 'INVALID_FIELD' ? violations : [], { k: 'v' });
    const decoded = decodeServiceError(serviceErrorOf(err));
    expect(decoded).toEqual({
      code: grpcStatusOfReason[reason],
      reason,
      message: err.message,
      violations: err.violations,
      metadata: { k: 'v' },
    });
    expect(decoded.message.startsWith(reason)).toBe(true);
  });

  test('errors - decodeServiceError keeps code and message without a trailer', () => {
    const bare = callErrorFromStatus(
      { code: grpc.status.UNAVAILABLE, details: 'connection refused', metadata: new grpc.Metadata() },
      'errors.test',
    );
    expect(decodeServiceError(bare)).toEqual({
      code: grpc.status.UNAVAILABLE,
      message: 'connection refused',
      violations: [],
      metadata: {},
    });
  });

  test('errors - decodeServiceError ignores a malformed trailer', () => {
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from([0xff, 0xff, 0xff]));
    const err = callErrorFromStatus({ code: grpc.status.INTERNAL, details: 'boom', metadata }, 'errors.test');
    const decoded = decodeServiceError(err);
    expect(decoded.code).toBe(grpc.status.INTERNAL);
    expect(decoded.message).toBe('boom');
    expect(decoded.reason).toBeUndefined();
  });

  test('errors - round trip through a real grpc-js server and client', async () => {
    const err = new PaycoreError('INVALID_FIELD', 'two fields', violations, { merchant_id: 'm1' });
    const identity = (b: Buffer): Buffer => b;
    const definition: grpc.ServiceDefinition = {
      fail: {
        path: '/paycore.test.Errors/Fail',
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    };
    const server = new grpc.Server();
    server.addService(definition, {
      fail: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(toServiceError(err)),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const Client = grpc.makeGenericClientConstructor(definition, 'Errors');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const received = await new Promise<grpc.ServiceError>((resolve, reject) => {
        const fail = client['fail'] as (
          req: Buffer,
          options: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null) => void,
        ) => void;
        fail.call(client, Buffer.alloc(0), { deadline: Date.now() + 5000 }, (e) =>
          e ? resolve(e) : reject(new Error('call unexpectedly succeeded')),
        );
      });
      expect(received.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(received.details).toBe('INVALID_FIELD: two fields');
      expect(decodeServiceError(received)).toEqual({
        code: grpc.status.INVALID_ARGUMENT,
        reason: 'INVALID_FIELD',
        message: 'INVALID_FIELD: two fields',
        violations,
        metadata: { merchant_id: 'm1' },
      });
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  test('errors - wire form round trips through JSON', () => {
    const err = new PaycoreError('INVALID_FIELD', 'amount must be positive', violations, { merchant_id: 'm1' });
    const back = errorFromWire(JSON.parse(JSON.stringify(errorToWire(err))));
    expect(back).toBeInstanceOf(PaycoreError);
    expect(back.reason).toBe(err.reason);
    expect(back.message).toBe(err.message);
    expect(back.detail).toBe(err.detail);
    expect(back.violations).toEqual(err.violations);
    expect(back.metadata).toEqual(err.metadata);
  });

  test('errors - wire form omits empty violations and metadata', () => {
    const wire = errorToWire(new PaycoreError('OVERLOADED', 'mailbox full'));
    expect(wire).toEqual({ reason: 'OVERLOADED', message: 'OVERLOADED: mailbox full' });
    const back = errorFromWire(wire);
    expect(back.violations).toEqual([]);
    expect(back.metadata).toEqual({});
    expect(back.message).toBe('OVERLOADED: mailbox full');
  });

  test('errors - wire form with an unknown reason becomes INTERNAL', () => {
    const back = errorFromWire({ reason: 'SOMETHING_NEW' as ErrorReason, message: 'SOMETHING_NEW: x' });
    expect(back.reason).toBe('INTERNAL');
    expect(back.message.startsWith('INTERNAL: ')).toBe(true);
    expect(isErrorReason('SOMETHING_NEW')).toBe(false);
    expect(isErrorReason('NOT_FOUND')).toBe(true);
    expect(isErrorReason('toString')).toBe(false);
  });

  test('errors - assert throws an AssertionError only when the condition is falsy', () => {
    expect(() => assert(true, 'never')).not.toThrow();
    expect(() => assert(1, 'never')).not.toThrow();
    let thrown: unknown;
    try {
      assert(0, 'debit without its credit');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).not.toBeInstanceOf(PaycoreError);
    expect((thrown as Error).name).toBe('AssertionError');
    expect((thrown as Error).message).toBe('debit without its credit');
  });
});
