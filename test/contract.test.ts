// The contract's rules hold and bite (docs/api.md, "Compatibility and versioning"): buf lint
// passes and fails an unprefixed enum value or an undocumented field, and scripts/check-contract.sh fails a breaking edit, against the released baseline and
// against the merge-base with main, while a compatible addition passes.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const payment_proto = 'proto/paycore/v1/payment.proto';
const admin_proto = 'proto/paycore/v1/admin.proto';

interface Run {
  status: number | null;
  output: string;
}

function run(command: string, args: string[], cwd: string): Run {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A copy of what the check reads (buf.yaml, proto/, the script), with node_modules linked. */
function copyContract(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-contract-'));
  cpSync(path.join(root, 'buf.yaml'), path.join(dir, 'buf.yaml'));
  cpSync(path.join(root, 'proto'), path.join(dir, 'proto'), { recursive: true, filter: (src) => !src.includes(`${path.sep}gen`) });
  mkdirSync(path.join(dir, 'scripts'));
  cpSync(path.join(root, 'scripts/check-contract.sh'), path.join(dir, 'scripts/check-contract.sh'));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function edit(dir: string, file: string, from: string | RegExp, to: string): void {
  const full = path.join(dir, file);
  const text = readFileSync(full, 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`edit of ${file} found nothing to replace: ${String(from)}`);
  writeFileSync(full, next);
}

const check = (dir: string): Run => run('bash', [path.join(dir, 'scripts/check-contract.sh')], dir);

test('contract - buf lint (STANDARD) passes on proto/', () => {
  const result = run(path.join(root, 'node_modules/.bin/buf'), ['lint'], root);
  expect(result).toEqual({ status: 0, output: '' });
});

test('contract - the committed baseline is a buildable image the protos are compatible with', () => {
  const result = run(path.join(root, 'node_modules/.bin/buf'), ['breaking', '--against', 'proto/released/paycore-v1.json'], root);
  expect(result).toEqual({ status: 0, output: '' });
});

const breaking_edits: Array<[string, string, string | RegExp, string, RegExp]> = [
  ['a renumbered field', payment_proto, /(message CreatePaymentRequest \{[^}]*?)int64 amount = 3;/, '$1int64 amount = 30;', /field "3" with name "amount" on message "CreatePaymentRequest" was deleted/],
  ['a retyped field', payment_proto, /(message CreatePaymentRequest \{[^}]*?)int64 amount = 3;/, '$1string amount = 3;', /changed type from "int64" to "string"/],
  ['a renamed field', payment_proto, /(message Payment \{[^}]*?)string channel_trade_no = 10;/, '$1string provider_trade_no = 10;', /changed name from "channel_trade_no" to "provider_trade_no"/],
  ['a renamed enum value', payment_proto, 'PRODUCT_BARCODE = 12;', 'PRODUCT_PAYMENT_CODE = 12;', /Enum value "12" on enum "Product" changed name from "PRODUCT_BARCODE" to "PRODUCT_PAYMENT_CODE"/],
  ['a removed RPC', admin_proto, /\s*\/\/ Reads one merchant[^\n]*\n\s*rpc GetMerchant\(GetMerchantRequest\) returns \(GetMerchantResponse\);/, '', /RPC "GetMerchant" on service "MerchantAdminService"/],
  ['a removed enum value', payment_proto, /\s*\/\/ Online banking, corporate account; requires payer.bank_code.\n\s*PRODUCT_BANK_B2B = 11;/, '', /enum value "11" on enum "Product" was deleted/],
];

describe('contract - against the released baseline', () => {
  let dir: string;
  beforeEach(() => (dir = copyContract()));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('an unchanged copy passes', () => {
    const result = check(dir);
    expect(result.output).toContain('no breaking change against proto/released/paycore-v1.json');
    expect(result.status).toBe(0);
  });

  test('a compatible addition (new field, enum value, RPC) passes', () => {
    edit(dir, payment_proto, '  repeated SplitRule split_rules = 12;\n}', '  repeated SplitRule split_rules = 12;\n  // A store of the merchant.\n  string store_id = 13;\n}');
    edit(dir, payment_proto, '  PRODUCT_BARCODE = 12;', '  PRODUCT_BARCODE = 12;\n  // Digital yuan.\n  PRODUCT_ECNY = 13;');
    edit(dir, admin_proto, '  rpc GetMerchant(GetMerchantRequest) returns (GetMerchantResponse);', '  rpc GetMerchant(GetMerchantRequest) returns (GetMerchantResponse);\n  // New.\n  rpc DeleteMerchant(DeleteMerchantRequest) returns (DeleteMerchantResponse);');
    writeFileSync(path.join(dir, admin_proto), `${readFileSync(path.join(dir, admin_proto), 'utf8')}\nmessage DeleteMerchantRequest {\n  // The merchant.\n  string merchant_id = 1;\n}\n\nmessage DeleteMerchantResponse {}\n`);
    const result = check(dir);
    expect(result.output).not.toContain('Previously');
    expect(result.status).toBe(0);
  });

  test.each(breaking_edits)('%s fails the check, naming it', (_name, file, from, to, message) => {
    edit(dir, file, from, to);
    const result = check(dir);
    expect(result.output).toMatch(message);
    expect(result.status).not.toBe(0);
  });

  test('a field without a comment fails lint (the rules must reach generated clients)', () => {
    edit(dir, payment_proto, '  repeated SplitRule split_rules = 12;\n}', '  repeated SplitRule split_rules = 12;\n  string store_id = 13;\n}');
    const result = check(dir);
    expect(result.output).toContain('Field "store_id" should have a non-empty comment for documentation.');
    expect(result.status).not.toBe(0);
  });

  test('an enum value without its prefix fails lint', () => {
    edit(dir, payment_proto, 'PRODUCT_BARCODE = 12;', 'PRODUCT_BARCODE = 12;\n  ECNY = 13;');
    const result = check(dir);
    expect(result.output).toContain('Enum value name "ECNY" should be prefixed with "PRODUCT_"');
    expect(result.status).not.toBe(0);
  });
});

describe('contract - against the merge-base with main', () => {
  let dir: string;
  const git = (...args: string[]): Run => {
    const result = run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], dir);
    if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.output}`);
    return result;
  };
  beforeEach(() => {
    dir = copyContract();
    writeFileSync(path.join(dir, '.gitignore'), 'node_modules\n');
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'released contract');
    // On main since the release: a compatible addition, not in the baseline yet.
    edit(dir, payment_proto, '  repeated SplitRule split_rules = 12;\n}', '  repeated SplitRule split_rules = 12;\n  // A store of the merchant.\n  string store_id = 13;\n}');
    git('commit', '-q', '-am', 'store_id');
    git('checkout', '-q', '-b', 'feature');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a branch breaking what main added since the release fails, though the baseline lacks it', () => {
    edit(dir, payment_proto, 'string store_id = 13;', 'string shop_id = 13;');
    git('commit', '-q', '-am', 'rename store_id');
    const result = check(dir);
    expect(result.output).toContain('no breaking change against proto/released/paycore-v1.json');
    expect(result.output).toMatch(/changed name from "store_id" to "shop_id"/);
    expect(result.status).not.toBe(0);
  });

  test('a branch adding compatibly passes both checks', () => {
    edit(dir, payment_proto, 'string store_id = 13;', 'string store_id = 13;\n  // The till.\n  string terminal_id = 14;');
    git('commit', '-q', '-am', 'terminal_id');
    const result = check(dir);
    expect(result.output).toMatch(/no breaking change against the merge-base with main/);
    expect(result.status).toBe(0);
  });
});
