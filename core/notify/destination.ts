// Where paycore may POST a merchant notification. A notify URL is the merchant's input, and
// paycore calls it from inside our network: without a check it reaches loopback services,
// the private network and cloud metadata endpoints (server-side request forgery).
//
// The rule is default-deny: an address is fine only when ipaddr.js classes it as plain
// public unicast. Everything else — loopback, RFC 1918, CGNAT 100.64/10 (also Alibaba
// Cloud's metadata 100.100.100.200), link-local 169.254/16 and fe80::/10 (AWS/GCP metadata
// 169.254.169.254), ULA fc00::/7, unspecified, multicast, reserved, IPv4-mapped/translated
// forms of those — is refused unless the deployment's allow-list names it (development and
// tests deliver to 127.0.0.1). ipaddr.js is used, not hand-written parsing: IPv6 forms
// (compressed, mapped, zone ids) and the range tables are easy to get subtly wrong.
//
// Checked twice: at the edge (the URL's form, and an address written in it; pure), and at
// delivery, where the name is resolved once, every address is checked, and the connection
// goes to the checked address (undici's connect `lookup`), so a name that answers a public
// address to the check and a private one to the connect (DNS rebinding) gets nowhere.

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { cidrRanges, type CidrRange } from '../cidr';
import type { Config } from '../config';

export interface DestinationPolicy {
  /** Production: only https URLs. */
  https_only: boolean;
  /** Host names (lower case) delivered to whatever they resolve to. */
  allow_hosts: ReadonlySet<string>;
  /** Address ranges delivered to although not public. */
  allow_cidrs: readonly CidrRange[];
}

/** http allowed, nothing but public addresses: unit tests' policy, and the default's shape. */
export const no_allow_list_policy: DestinationPolicy = { https_only: false, allow_hosts: new Set(), allow_cidrs: [] };

/** Parses the allow-lists of the configuration; throws naming the bad entry. */
export function destinationPolicy(https_only: boolean, hosts: string, cidrs: string): DestinationPolicy {
  const allow_hosts = new Set(list(hosts).map((h) => h.toLowerCase()));
  return { https_only, allow_hosts, allow_cidrs: cidrRanges(cidrs) };
}

/** The notification destination policy of a configuration. */
export function notifyPolicy(config: Pick<Config, 'notify_https_only' | 'notify_allow_hosts' | 'notify_allow_cidrs'>): DestinationPolicy {
  return destinationPolicy(config.notify_https_only, config.notify_allow_hosts, config.notify_allow_cidrs);
}

function list(raw: string): string[] {
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Why an address may not be delivered to (its range name), or undefined when it may. */
export function addressProblem(address: string, policy: DestinationPolicy): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/%.*$/, '')); // a zone id says nothing about the range
  } catch {
    return 'unparseable';
  }
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  for (const [range, bits] of policy.allow_cidrs) {
    if (range.kind() === parsed.kind() && parsed.match(range, bits)) return undefined;
  }
  const range = parsed.range();
  return range === 'unicast' ? undefined : range;
}

const local_names = /(^|\.)localhost$/;

/** The edge's check of a syntactically valid URL: scheme, and an address or a local name
 * written in it. Names are resolved at delivery. */
export function urlProblem(url: URL, policy: DestinationPolicy): string | undefined {
  if (policy.https_only && url.protocol !== 'https:') return 'must use https';
  const host = hostOf(url);
  if (policy.allow_hosts.has(host)) return undefined;
  if (isIP(host) !== 0) {
    const problem = addressProblem(host, policy);
    return problem === undefined ? undefined : `must not name a ${problem} address`;
  }
  if (local_names.test(host)) return 'must not name a local host';
  return undefined;
}

/** The URL's host as net and ipaddr.js read it: lower case, no IPv6 brackets, no final dot. */
function hostOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

class ForbiddenDestination extends Error {
  override readonly name = 'ForbiddenDestination';
  readonly code = 'FORBIDDEN_DESTINATION';
}

/** Resolves a host to all its addresses (dns.lookup; tests pass a stand-in). */
export type Resolve = (host: string, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

const resolveAll: Resolve = (host, callback) => dnsLookup(host, { all: true, verbatim: true }, callback);

/** A `lookup` for undici's connect options: resolves once, refuses the connection unless
 * every address is allowed, and hands the connect exactly the address it checked. */
export function checkedLookup(policy: DestinationPolicy, resolve: Resolve = resolveAll): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    resolve(host, (error, addresses) => {
      if (error !== null) return callback(error);
      const allowed_by_name = policy.allow_hosts.has(host);
      const refused = allowed_by_name ? undefined : addresses.find((a) => addressProblem(a.address, policy) !== undefined);
      if (refused !== undefined || addresses.length === 0) {
        return callback(new ForbiddenDestination(`notify host resolves to a ${refused === undefined ? 'no' : addressProblem(refused.address, policy)} address`));
      }
      if (options.all === true) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}
