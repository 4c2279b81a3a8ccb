// paycore from a client that is not grpc-js: Python grpcio with stubs protoc generates from
// proto/ at test time (Debian's python3-grpcio, python3-protobuf, protobuf-compiler and
// protobuf-compiler-grpc, which scripts/ensure-services.sh installs). test/python/paycore_client.py
// creates, replays, reads, watches, pays in the sandbox, refunds and decodes rich errors, and
// prints what it saw; the assertions are here.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startStack, type Stack } from './harness';

const root = path.resolve(__dirname, '..');
// Debian's interpreter: the packages above are installed for it, whatever python3 is first on PATH.
const python = process.env.PAYCORE_PYTHON ?? '/usr/bin/python3';

let stack: Stack;
let stubs: string;

/** protoc with grpc's Python plugin, from the same protos every client builds against. */
function generateStubs(out: string): void {
  const protos = ['paycore/v1/payment.proto', 'paycore/v1/admin.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto'];
  const result = spawnSync('protoc', ['-I', path.join(root, 'proto'), `--python_out=${out}`, `--grpc_python_out=${out}`, '--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin', ...protos], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`protoc failed (run scripts/ensure-services.sh): ${result.error ?? ''}${result.stderr}`);
}

function runClient(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(root, 'test/python/paycore_client.py'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  stubs = mkdtempSync(path.join(tmpdir(), 'paycore-pystubs-'));
  generateStubs(stubs);
  stack = await startStack();
});

afterAll(async () => {
  await stack?.stop();
  if (stubs !== undefined) rmSync(stubs, { recursive: true, force: true });
});

interface DecodedError {
  code: string;
  message: string;
  details: boolean;
  status_code?: number;
  reason?: string;
  domain?: string;
  violations: { field: string; description: string }[];
}

interface Report {
  create: {
    payment_id: string;
    status: string;
    product: string;
    amount: number;
    currency: string;
    metadata: Record<string, string>;
    next_action: string;
    qr_code: string;
    created_at_s: number;
  };
  replay_payment_id: string;
  get: { payment_id: string; status: string; version: number };
  sandbox_pay_http: number;
  watch: string[];
  refund: {
    refund_id: string;
    created_status: string;
    settled_refund_id: string;
    status: string;
    amount: number;
    payment_status: string;
    refunded_amount: number;
  };
  invalid: DecodedError;
  not_found: DecodedError;
  exceeds: DecodedError;
}

test('python client - grpcio creates, reads, watches, refunds and decodes rich errors', async () => {
  // As the stack's app, with its client certificate (mTLS), like every caller of paycore.
  const { ca_file, cert_file, key_file } = stack.tls_files;
  const result = await runClient([
    '--stubs', stubs, '--target', stack.address, '--sandbox', stack.sandbox.url, '--merchant', 'm_it',
    '--ca', ca_file, '--cert', cert_file, '--key', key_file, '--server-name', 'localhost',
  ]);
  if (result.code !== 0) throw new Error(`the Python client failed (${result.code}):\n${result.stderr}`);
  const report = JSON.parse(result.stdout) as Report;

  expect(report.create).toEqual(expect.objectContaining({
    status: 'PAYMENT_STATUS_REQUIRES_ACTION', product: 'PRODUCT_WECHAT_NATIVE', amount: 2500, currency: 'CNY',
    metadata: { client: 'grpcio' }, next_action: 'NEXT_ACTION_TYPE_QR_CODE',
  }));
  expect(report.create.payment_id).toMatch(/^p[a-z2-7]{25}$/);
  expect(report.create.qr_code).toMatch(/^weixin:\/\//);
  expect(report.create.created_at_s).toBeGreaterThan(1_700_000_000);
  expect(report.replay_payment_id).toBe(report.create.payment_id);
  expect(report.get).toEqual(expect.objectContaining({ payment_id: report.create.payment_id, status: 'PAYMENT_STATUS_REQUIRES_ACTION' }));

  expect(report.sandbox_pay_http).toBe(200);
  expect(report.watch[0]).toBe('PAYMENT_STATUS_REQUIRES_ACTION');
  expect(report.watch.at(-1)).toBe('PAYMENT_STATUS_SUCCEEDED');

  expect(report.refund.created_status).toMatch(/^REFUND_STATUS_(PENDING|PROCESSING|SUCCEEDED)$/);
  expect(report.refund).toEqual(expect.objectContaining({
    settled_refund_id: report.refund.refund_id, status: 'REFUND_STATUS_SUCCEEDED', amount: 1000,
    payment_status: 'PAYMENT_STATUS_PARTIALLY_REFUNDED', refunded_amount: 1000,
  }));

  // Every bad field named in BadRequest, the reason in ErrorInfo, all from grpc-status-details-bin.
  expect(report.invalid).toEqual(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: true, status_code: 3, reason: 'INVALID_FIELD', domain: 'paycore.v1' }));
  expect(report.invalid.message).toMatch(/^INVALID_FIELD: /);
  expect(report.invalid.violations.map((v) => v.field).sort()).toEqual(['amount', 'currency', 'payer.auth_code']);
  expect(report.invalid.violations.find((v) => v.field === 'payer.auth_code')?.description).toBe('is required for product PRODUCT_BARCODE');
  expect(report.not_found).toEqual(expect.objectContaining({ code: 'NOT_FOUND', details: true, reason: 'NOT_FOUND', domain: 'paycore.v1', violations: [] }));
  expect(report.exceeds).toEqual(expect.objectContaining({ code: 'FAILED_PRECONDITION', details: true, reason: 'REFUND_EXCEEDS_PAID' }));
}, 120_000);
