// Who is calling, and may they call this method: the client certificate's app (mTLS) or the
// app-key signature, then the app's roles. Merchant scoping is the handlers' (Caller.requireMerchant),
// since only they know which merchant a request names. docs/security.md has the model.

import type { AuthContext } from '@grpc/grpc-js/build/src/auth-context';
import type * as grpc from '@grpc/grpc-js';
import type { RedisClient } from '../connections';
import { app_key_clock_skew_ms, app_key_nonce_ttl_ms } from '../constants';
import { PaycoreError, dependencyFailure } from '../errors';
import { mayActFor, type App } from '../routing/apps';
import type { AppGrant } from '../routing/snapshot';
import { app_key_headers, bodyDigest, canonicalString, nonce_pattern, signature, signaturesMatch, type SignedFields } from './app-key';
import { requirementOf } from './policy';

/** The SAN URI naming the app in a client certificate: spiffe://paycore/app/<app_id>. */
export const app_uri_prefix = 'spiffe://paycore/app/';
const app_uri_pattern = /^URI:spiffe:\/\/paycore\/app\/([A-Za-z0-9_-]{1,32})$/;

export class Caller {
  constructor(
    readonly app: App,
    readonly via: 'mtls' | 'app_key',
  ) {}

  get app_id(): string {
    return this.app.app_id;
  }

  /** A platform app acts for every merchant. */
  get all_merchants(): boolean {
    return this.app.merchants === '*';
  }

  mayActFor(merchant_id: string): boolean {
    return mayActFor(this.app, merchant_id);
  }

  /** FORBIDDEN unless the app may act for the merchant the request names. */
  requireMerchant(merchant_id: string): void {
    if (!this.mayActFor(merchant_id)) throw new PaycoreError('FORBIDDEN', `app ${this.app_id} may not act for merchant ${merchant_id}`);
  }
}

export interface AppDirectory {
  appGrant(app_id: string): AppGrant | undefined;
}

export interface CallFacts {
  path: string;
  metadata: grpc.Metadata;
  auth_context: AuthContext;
  /** The serialized request (empty for streaming requests). */
  body: Uint8Array;
}

export class Authenticator {
  constructor(
    private readonly apps: AppDirectory,
    private readonly redis: RedisClient,
    private readonly nonce_prefix: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The caller, allowed to call this method; UNAUTHENTICATED or FORBIDDEN otherwise. */
  async authorize(call: CallFacts): Promise<Caller> {
    const caller = await this.authenticate(call);
    const requirement = requirementOf(call.path);
    if (requirement === undefined) throw new PaycoreError('FORBIDDEN', `${call.path} is not open to any app`);
    if (requirement !== 'authenticated' && !caller.app.roles.includes(requirement)) {
      throw new PaycoreError('FORBIDDEN', `app ${caller.app_id} lacks role ${requirement}`);
    }
    return caller;
  }

  async authenticate(call: CallFacts): Promise<Caller> {
    const certificate = call.auth_context.sslPeerCertificate;
    // A certificate reaches here only when it chains to the configured client CA (tls.ts
    // refuses the connection otherwise): it then names the caller, headers or not.
    if (certificate !== undefined) return new Caller(this.#grant(appOfCertificate(certificate.subjectaltname ?? '')).app, 'mtls');
    if (call.metadata.get(app_key_headers.app_id).length > 0) return this.#verifyAppKey(call);
    throw unauthenticated('no client certificate and no app key');
  }

  #grant(app_id: string): AppGrant {
    const grant = this.apps.appGrant(app_id);
    if (grant === undefined) throw unauthenticated(`unknown app ${app_id}`);
    return grant;
  }

  async #verifyAppKey(call: CallFacts): Promise<Caller> {
    const fields = signedFields(call.metadata);
    const now_ms = this.clock();
    if (Math.abs(now_ms - fields.timestamp_ms) > app_key_clock_skew_ms) {
      throw unauthenticated(`${app_key_headers.timestamp} is more than ${app_key_clock_skew_ms / 1000} s from the server's clock`);
    }
    const grant = this.#grant(fields.app_id);
    const secret = grant.secrets.get(fields.key_id);
    if (secret === undefined) throw unauthenticated(`app ${fields.app_id} has no valid key ${fields.key_id}`);
    const given = header(call.metadata, app_key_headers.signature);
    const expected = signature(secret, canonicalString(call.path, fields, bodyDigest(call.body)));
    if (!signaturesMatch(expected, given)) throw unauthenticated('the app-key signature does not match the request');
    // Only a correctly signed request may use up a nonce, so strangers cannot fill the cache.
    // Without Redis the replay check cannot run: the call is refused (retryable), never let in.
    let fresh: string | null;
    try {
      fresh = await this.redis.set(`${this.nonce_prefix}:${fields.app_id}:${fields.nonce}`, '1', 'PX', app_key_nonce_ttl_ms, 'NX');
    } catch (error) {
      throw dependencyFailure(error, 'Redis');
    }
    if (fresh !== 'OK') throw unauthenticated(`${app_key_headers.nonce} was already used (a replayed request)`);
    return new Caller(grant.app, 'app_key');
  }
}

function unauthenticated(detail: string): PaycoreError {
  return new PaycoreError('UNAUTHENTICATED', detail);
}

function header(metadata: grpc.Metadata, name: string): string {
  const values = metadata.get(name);
  const value = values.length === 1 ? values[0] : undefined;
  if (typeof value !== 'string' || value === '') throw unauthenticated(`${name} must be present once`);
  return value;
}

function signedFields(metadata: grpc.Metadata): SignedFields {
  const app_id = header(metadata, app_key_headers.app_id);
  const key_id = header(metadata, app_key_headers.key_id);
  const timestamp = header(metadata, app_key_headers.timestamp);
  const nonce = header(metadata, app_key_headers.nonce);
  if (!/^\d{1,15}$/.test(timestamp)) throw unauthenticated(`${app_key_headers.timestamp} must be Unix time in milliseconds`);
  if (!nonce_pattern.test(nonce)) throw unauthenticated(`${app_key_headers.nonce} must be 16 to 64 characters of A-Z, a-z, 0-9, '_' or '-'`);
  return { app_id, key_id, timestamp_ms: Number(timestamp), nonce };
}

/** The app a client certificate names: exactly one SAN URI spiffe://paycore/app/<app_id>. */
export function appOfCertificate(subject_alt_name: string): string {
  const apps = subject_alt_name
    .split(/,\s*/)
    .map((entry) => app_uri_pattern.exec(entry.trim())?.[1])
    .filter((id): id is string => id !== undefined);
  if (apps.length !== 1) throw unauthenticated(`the client certificate must name exactly one app as a SAN URI ${app_uri_prefix}<app_id>`);
  return apps[0]!;
}
