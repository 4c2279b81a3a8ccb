// The gRPC ports' transport. paycore terminates TLS itself and hands each connection to
// grpc-js, because grpc-js can either require a client certificate (then callers with an app key
// cannot connect) or not check one at all. Here a client certificate is requested: one that
// does not chain to the configured client CA refuses the connection during the handshake, and a
// connection without one is served, its calls needing the app-key signature
// (authenticator.ts). Certificates are re-read when their files change (rotation, see
// docs/security.md), without a restart.

import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsFiles } from '../config';
import type { Logger } from '../log';

export interface Listener {
  port: number;
  /** Stops accepting connections; those still open after `grace_ms` (calls draining, a
   * client stalled mid-handshake) are destroyed, so a shutdown always ends. */
  close(grace_ms: number): Promise<void>;
}

/** How often certificate files are checked for a change (fs.watchFile polls). */
const tls_files_poll_ms = 10_000;

function secureContext(files: TlsFiles): tls.SecureContextOptions {
  return { cert: readFileSync(files.cert_file), key: readFileSync(files.key_file), ca: readFileSync(files.client_ca_file) };
}

/** Closes `server`, destroying the connections still open after `grace_ms`. */
function closeWithin(server: NetServer | tls.Server, sockets: Set<Socket>, grace_ms: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, grace_ms);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** The raw connections of a server, for closeWithin. */
function tracked(server: NetServer | tls.Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

function listen(server: NetServer | tls.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** Reads the client's certificate once per connection and answers every later plain
 * `getPeerCertificate()` with it: grpc-js asks on every call (getAuthContext), and each read
 * builds the certificate object anew (about 0.1 ms). Renegotiation is refused, so the
 * certificate cannot change while the connection lives; the copy lives and dies with this
 * socket, and a new connection is checked from its own handshake. */
function peerCertificateOnce(socket: tls.TLSSocket): tls.PeerCertificate {
  socket.disableRenegotiation();
  const read = socket.getPeerCertificate.bind(socket);
  const certificate = read();
  Object.defineProperty(socket, 'getPeerCertificate', {
    value: (detailed?: boolean) => (detailed === true ? read(true) : certificate),
    configurable: true,
    writable: true,
  });
  return certificate;
}

/** Serves `server` over TLS on host:port. */
export async function listenTls(server: grpc.Server, host: string, port: number, files: TlsFiles, log: Logger): Promise<Listener> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const tls_server = tls.createServer(
    { ...secureContext(files), requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['h2'], minVersion: 'TLSv1.2' },
    (socket: tls.TLSSocket) => {
      const certificate = peerCertificateOnce(socket);
      // A certificate was presented but does not chain to our client CA: no service at all.
      if (!socket.authorized && certificate.raw !== undefined) {
        log.warn({ remote: socket.remoteAddress, err: String(socket.authorizationError) }, 'TLS client certificate refused');
        socket.destroy();
        return;
      }
      injector.injectConnection(socket);
    },
  );
  tls_server.on('tlsClientError', (error) => log.debug({ err: error.message }, 'TLS handshake failed'));
  const sockets = tracked(tls_server);
  const reload = (): void => {
    try {
      tls_server.setSecureContext(secureContext(files));
      log.info({ cert_file: files.cert_file }, 'TLS certificates reloaded');
    } catch (error) {
      log.error({ err: String(error) }, 'TLS certificates unreadable: keeping the previous ones');
    }
  };
  const watched = [files.cert_file, files.key_file, files.client_ca_file];
  for (const file of watched) watchFile(file, { interval: tls_files_poll_ms, persistent: false }, reload);
  const bound = await listen(tls_server, host, port);
  return {
    port: bound,
    close: (grace_ms) => {
      for (const file of watched) unwatchFile(file, reload);
      return closeWithin(tls_server, sockets, grace_ms);
    },
  };
}

/** Plaintext, for development only (PAYCORE_GRPC_INSECURE=1; refused in production). */
export async function listenPlain(server: grpc.Server, host: string, port: number): Promise<Listener> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const plain = createServer((socket: Socket) => injector.injectConnection(socket));
  const sockets = tracked(plain);
  const bound = await listen(plain, host, port);
  return { port: bound, close: (grace_ms) => closeWithin(plain, sockets, grace_ms) };
}
