// A development PKI: a CA, the gateway's server certificate and one client certificate per
// app, written with Debian's `openssl` (node:crypto cannot issue X.509 certificates). The same
// commands issue real certificates from a real CA (docs/security.md). Idempotent: files that
// exist are kept. EC P-256 keys: fast to make, and what service meshes issue.
//
//   <dir>/ca.pem, ca.key                  the development CA (never a production one)
//   <dir>/server.pem, server.key          SAN DNS:localhost, IP:127.0.0.1
//   <dir>/apps/<app_id>.pem, <app_id>.key  SAN URI spiffe://paycore/app/<app_id>

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { app_uri_prefix } from '../../core/auth/authenticator';

/** Development certificates live this long: long enough not to expire under a developer. */
const dev_cert_days = 825;

export interface DevPki {
  dir: string;
  ca_file: string;
  ca_key_file: string;
  server_cert_file: string;
  server_key_file: string;
  /** The files of an app's client certificate. */
  app(app_id: string): { cert_file: string; key_file: string };
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed (apt-get install openssl; scripts/ensure-services.sh does it)', { cause: error });
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`, { cause: error });
  }
}

const ec_key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Issues a certificate for `name` signed by the CA, with the given SAN and extended key usage. */
function issue(pki: DevPki, base: string, subject: string, san: string, usage: 'serverAuth' | 'clientAuth'): void {
  const csr = `${base}.csr`;
  const ext = `${base}.ext`;
  openssl(['req', '-new', ...ec_key, '-keyout', `${base}.key`, '-subj', subject, '-out', csr]);
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', pki.ca_file, '-CAkey', pki.ca_key_file, '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
    '-days', String(dev_cert_days), '-sha256', '-extfile', ext, '-out', `${base}.pem`]);
  rmSync(csr);
  rmSync(ext);
}

/** The PKI under `dir`, with a certificate for each of `apps`, creating what is missing. */
export function ensureDevPki(dir: string, apps: readonly string[] = []): DevPki {
  mkdirSync(path.join(dir, 'apps'), { recursive: true, mode: 0o700 });
  const pki: DevPki = {
    dir,
    ca_file: path.join(dir, 'ca.pem'),
    ca_key_file: path.join(dir, 'ca.key'),
    server_cert_file: path.join(dir, 'server.pem'),
    server_key_file: path.join(dir, 'server.key'),
    app: (app_id) => ({ cert_file: path.join(dir, 'apps', `${app_id}.pem`), key_file: path.join(dir, 'apps', `${app_id}.key`) }),
  };
  if (!existsSync(pki.ca_file)) {
    openssl(['req', '-x509', ...ec_key, '-keyout', pki.ca_key_file, '-subj', '/CN=paycore development CA', '-days', String(dev_cert_days), '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', pki.ca_file]);
  }
  if (!existsSync(pki.server_cert_file)) issue(pki, path.join(dir, 'server'), '/CN=paycore gateway', 'DNS:localhost,IP:127.0.0.1', 'serverAuth');
  for (const app_id of apps) {
    if (!existsSync(pki.app(app_id).cert_file)) issue(pki, path.join(dir, 'apps', app_id), `/CN=${app_id}`, `URI:${app_uri_prefix}${app_id}`, 'clientAuth');
  }
  return pki;
}

if (require.main === module) {
  const [dir, ...apps] = process.argv.slice(2);
  if (dir === undefined) {
    process.stderr.write('usage: dev-certs <dir> [app_id ...]\n');
    process.exit(2);
  }
  const pki = ensureDevPki(path.resolve(dir), apps);
  process.stdout.write(`${pki.dir}\n`);
}
