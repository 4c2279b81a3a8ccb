// The arithmetic of splits as tables at their boundaries: the shares split rules give of a
// paid payment's net, and what a merchant refund takes back from the receivers' shares.

import { returnsOf, sharesOf, type SplitRule } from './shares';

const fixed = (receiver_id: string, amount_minor: bigint): SplitRule => ({ receiver_id, amount_minor, ratio_bp: 0 });
const ratio = (receiver_id: string, ratio_bp: number): SplitRule => ({ receiver_id, amount_minor: 0n, ratio_bp });

type SharesRow = [name: string, rules: SplitRule[], net: bigint, shares: [string, bigint][]];

const shares_table: SharesRow[] = [
  ['a fixed amount is given as it is', [fixed('a', 300n)], 1000n, [['a', 300n]]],
  ['a ratio is of the net: 30 % of 1000', [ratio('a', 3000)], 1000n, [['a', 300n]]],
  ['10000 bp is the whole net', [ratio('a', 10_000)], 1000n, [['a', 1000n]]],
  ['1 bp of 10000 is 1', [ratio('a', 1)], 10_000n, [['a', 1n]]],
  ['a ratio rounds down: 50 % of 99 is 49', [ratio('a', 5000)], 99n, [['a', 49n]]],
  ['a ratio that rounds to nothing is left out: 1 bp of 9999', [ratio('a', 1), fixed('b', 1n)], 10_000n, [['b', 1n]]],
  ['ratios are of the net less the fixed amounts', [fixed('a', 200n), ratio('b', 5000)], 1000n, [['a', 200n], ['b', 400n]]],
  ['fixed amounts that take the whole net leave the ratios nothing', [fixed('a', 1000n), ratio('b', 5000)], 1000n, [['a', 1000n]]],
  ['fixed amounts over the net leave the ratios nothing and are still given (the split\'s limit refuses them)', [fixed('a', 1200n), ratio('b', 5000)], 1000n, [['a', 1200n]]],
  ['one unit left after the fixed amounts: a whole ratio takes it', [fixed('a', 999n), ratio('b', 10_000)], 1000n, [['a', 999n], ['b', 1n]]],
  ['several ratios each of the same base, in the rules\' order', [ratio('a', 2500), fixed('b', 100n), ratio('c', 7500)], 500n, [['a', 100n], ['b', 100n], ['c', 300n]]],
  ['a net of nothing (the fee took it all): only fixed amounts', [fixed('a', 5n), ratio('b', 10_000)], 0n, [['a', 5n]]],
  ['no rules, no shares', [], 1000n, []],
];

test.each(shares_table)('split rules: %s', (_name, rules, net, expected) => {
  expect(sharesOf(rules, net).map((s) => [s.receiver_id, s.amount_minor])).toEqual(expected);
});

interface Share {
  id: string;
  left_minor: bigint;
}

type ReturnsRow = [name: string, shares: bigint[], refund: bigint, returns: [string, bigint][]];

const returns_table: ReturnsRow[] = [
  ['a refund below the first share takes only from it', [300n, 200n], 100n, [['s1', 100n]]],
  ['a refund of exactly the first share empties it and nothing else', [300n, 200n], 300n, [['s1', 300n]]],
  ['one unit more reaches the second share', [300n, 200n], 301n, [['s1', 300n], ['s2', 1n]]],
  ['a refund of every share takes them all', [300n, 200n], 500n, [['s1', 300n], ['s2', 200n]]],
  ['a refund over the shares takes them all; the merchant pays the rest', [300n, 200n], 800n, [['s1', 300n], ['s2', 200n]]],
  ['a share with nothing left is passed over', [0n, 200n], 50n, [['s2', 50n]]],
  ['the order given is the order taken: the last allocated is taken last', [50n, 50n, 50n], 120n, [['s1', 50n], ['s2', 50n], ['s3', 20n]]],
  ['a refund of nothing takes nothing', [300n], 0n, []],
  ['no shares: nothing to take, the merchant pays it all', [], 100n, []],
];

test.each(returns_table)('split returns: %s', (_name, lefts, refund, expected) => {
  const shares: Share[] = lefts.map((left_minor, index) => ({ id: `s${index + 1}`, left_minor }));
  const returns = returnsOf(shares, refund);
  expect(returns.map((r) => [r.share.id, r.amount_minor])).toEqual(expected);
  // What the shares cover plus what the merchant pays is the refund, and no share goes below nothing.
  const covered = returns.reduce((sum, r) => sum + r.amount_minor, 0n);
  const total = lefts.reduce((sum, left) => sum + left, 0n);
  expect(covered).toBe(refund < total ? refund : total);
});
