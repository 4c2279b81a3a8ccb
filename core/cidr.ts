// Address ranges as a deployment writes them: a comma list of CIDR ranges, parsed by
// ipaddr.js. The notification allow-list (core/notify/destination.ts) is one; the configuration
// (core/config.ts) checks it with the same parser at boot.

import ipaddr from 'ipaddr.js';

export type CidrRange = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** The ranges of a comma list (blanks ignored); throws naming the first that is not one. */
export function cidrRanges(raw: string): CidrRange[] {
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '').map((cidr) => {
    try {
      return ipaddr.parseCIDR(cidr);
    } catch {
      throw new Error(`'${cidr}' is not a CIDR range (e.g. 127.0.0.0/8, ::1/128)`);
    }
  });
}
