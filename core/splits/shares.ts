// The arithmetic of splits (pure: no I/O): the shares split rules give of a paid payment, and
// what a merchant refund takes back from the receivers' shares (policy: the receivers' shares
// first, core/splits/README.md). The books (rules.ts's sweep, core/ledger/splits.ts) apply them.

/** One receiver's share: a fixed amount, or basis points of the amount less the fee and the fixed shares. */
export interface SplitRule {
  receiver_id: string;
  amount_minor: bigint;
  ratio_bp: number;
  /** The receiver's registered name at the channel (in clear here; sealed where kept). */
  name?: string;
}

const basis_points = 10_000n;

/** The shares the rules give of a paid payment whose net (amount − merchant fee) is `net`:
 * fixed amounts as given, ratios of what the net leaves after them (rounded down); a share
 * that rounds to nothing is left out. The split's own limit decides whether they fit. */
export function sharesOf(rules: readonly SplitRule[], net: bigint): { receiver_id: string; amount_minor: bigint; name?: string }[] {
  let fixed = 0n;
  for (const rule of rules) fixed += rule.amount_minor;
  // Below nothing when the fixed amounts exceed the net: every ratio's share is then at most
  // nothing (bigint division rounds toward zero) and left out with the other empty shares.
  const base = net - fixed;
  return rules
    .map((rule) => ({
      receiver_id: rule.receiver_id, amount_minor: rule.ratio_bp > 0 ? (base * BigInt(rule.ratio_bp)) / basis_points : rule.amount_minor,
      ...(rule.name === undefined || rule.name === '' ? {} : { name: rule.name }),
    }))
    .filter((share) => share.amount_minor > 0n);
}

/** What a merchant refund of `amount_minor` takes back from the shares still with their
 * receivers, given in the order they were allocated: each share in turn, at most what is left
 * of it, until the refund is covered. Only the shares taken from are listed; the merchant pays
 * the refund less their sum. */
export function returnsOf<Share extends { left_minor: bigint }>(shares: readonly Share[], amount_minor: bigint): { share: Share; amount_minor: bigint }[] {
  const returns: { share: Share; amount_minor: bigint }[] = [];
  let due = amount_minor;
  for (const share of shares) {
    const take = share.left_minor < due ? share.left_minor : due;
    // Covered already, or nothing left of this share.
    if (take <= 0n) continue;
    due -= take;
    returns.push({ share, amount_minor: take });
  }
  return returns;
}
