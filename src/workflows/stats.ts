// Statistics for the canary judgment, pure and deterministic (they run inside
// the workflow). p-values are computed in floating point; every comparison a
// verdict depends on (ordering samples, p against a significance level) goes
// through decimal.js.
import Decimal from 'decimal.js';

/** Standard normal upper tail P(Z > z). erfc after Numerical Recipes (erfcc): relative error below 1.2e-7. */
export function normalUpperTail(z: number): number {
  const x = z / Math.SQRT2;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.5 * ax);
  const poly = -ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfcAbs = t * Math.exp(poly);
  const erfc = x >= 0 ? erfcAbs : 2 - erfcAbs;
  return erfc / 2;
}

export interface MannWhitneyResult {
  /** U of the first sample (canary): pairs where it is greater, ties counting one half. */
  u: number;
  n1: number;
  n2: number;
  /** Standardised U (no continuity correction); 0 when every value is tied. */
  z: number;
  /** One-sided p-value of "the first sample tends to be greater". */
  pGreater: number;
  /** Two-sided p-value; equals the Kruskal-Wallis p-value of the same two groups. */
  pTwoSided: number;
}

/**
 * Mann-Whitney U test with midranks for ties and the tie-corrected variance,
 * normal approximation. Values are decimal strings (as Prometheus sends them)
 * and are ordered exactly.
 */
export function mannWhitneyU(first: readonly string[], second: readonly string[]): MannWhitneyResult {
  const n1 = first.length;
  const n2 = second.length;
  if (n1 === 0 || n2 === 0) throw new Error(`Mann-Whitney U needs samples in both groups (got ${n1} and ${n2})`);
  const pooled = [
    ...first.map((v) => ({ value: new Decimal(v), first: true })),
    ...second.map((v) => ({ value: new Decimal(v), first: false })),
  ].sort((a, b) => a.value.comparedTo(b.value));
  const n = n1 + n2;
  let rankSumFirst = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && pooled[j + 1]!.value.eq(pooled[i]!.value)) j++;
    const tied = j - i + 1;
    const midrank = (i + 1 + j + 1) / 2;
    for (let k = i; k <= j; k++) if (pooled[k]!.first) rankSumFirst += midrank;
    tieTerm += tied ** 3 - tied;
    i = j + 1;
  }
  const u = rankSumFirst - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (!(variance > 0)) return { u, n1, n2, z: 0, pGreater: 1, pTwoSided: 1 };
  const z = (u - mean) / Math.sqrt(variance);
  const pGreater = normalUpperTail(z);
  return { u, n1, n2, z, pGreater, pTwoSided: Math.min(1, 2 * Math.min(pGreater, 1 - pGreater)) };
}

/**
 * P(X >= k) for X ~ Binomial(n, p): how likely `k` or more events out of `n`
 * are when each happens with probability `p`. Exact, summed in log space.
 */
export function binomialUpperTail(k: number, n: number, p: number): number {
  checkBinomial(k, n, p);
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p === 0) return 0;
  if (p === 1) return 1;
  return Math.max(0, -Math.expm1(logLowerTail(k - 1, n, p)));
}

/** P(X <= k) for X ~ Binomial(n, p): how likely at most `k` events out of `n` are. Exact, in log space. */
export function binomialLowerTail(k: number, n: number, p: number): number {
  checkBinomial(k, n, p);
  if (k < 0) return 0;
  if (k >= n || p === 0) return 1;
  if (p === 1) return 0;
  return Math.min(1, Math.exp(logLowerTail(k, n, p)));
}

function checkBinomial(k: number, n: number, p: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || n < 0) throw new Error(`binomial tail needs whole k and n >= 0 (got k=${k}, n=${n})`);
  if (!(p >= 0 && p <= 1)) throw new Error(`binomial tail needs 0 <= p <= 1 (got ${p})`);
}

/** log P(X <= k), 0 <= k < n, 0 < p < 1, term by term: t(i+1) = t(i) * (n-i)/(i+1) * p/(1-p). */
function logLowerTail(k: number, n: number, p: number): number {
  const logRatio = Math.log(p) - Math.log1p(-p);
  let logTerm = n * Math.log1p(-p);
  let logSum = logTerm;
  for (let i = 0; i < k; i++) {
    logTerm += Math.log(n - i) - Math.log(i + 1) + logRatio;
    const hi = Math.max(logSum, logTerm);
    logSum = hi + Math.log(Math.exp(logSum - hi) + Math.exp(logTerm - hi));
  }
  return logSum;
}

/** Median of decimal strings, exact. */
export function median(values: readonly string[]): Decimal {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = values.map((v) => new Decimal(v)).sort((a, b) => a.comparedTo(b));
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : sorted[mid - 1]!.plus(sorted[mid]!).div(2);
}

/** True when a p-value is below a significance level given as a decimal string. */
export function significant(pValue: number, significance: string): boolean {
  return new Decimal(pValue).lt(significance);
}
