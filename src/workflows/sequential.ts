// Anytime-valid canary-versus-stable tests on counts since the stage began.
// Pure and deterministic: no I/O, no node:*, so it runs in the workflow and in the bench.
// Method after Lindon, Sanden, Shirikian (KDD 2022) and Lindon, Malek (NeurIPS 2022):
// a mixture likelihood ratio is a nonnegative martingale under "no regression", so by
// Ville's inequality P(it ever reaches 1/alpha) <= alpha, however often it is looked at.
// docs/judgment.md ("Canary versus stable") explains the choices below.

export type SequentialDecision = 'reject' | 'continue' | 'insufficient';

export interface SequentialResult {
  /** Natural log of the e-value; reject when >= threshold. */
  logE: number;
  /** log(1/alpha). */
  threshold: number;
  decision: SequentialDecision;
  /** The canary looks worse than stable in the observed counts (direction of a rejection). */
  worse: boolean;
  canaryRequests: number;
  stableRequests: number;
  /** Canary's share of requests the null hypothesis uses. */
  share: number;
  /** Error test: the canary's and stable's error counts. Latency test: requests above stable's median bucket. */
  canaryEvents: number;
  stableEvents: number;
}

/** log Gamma(x) for x > 0: Lanczos (g = 7, 9 terms), relative error near 1e-15. */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new Error(`logGamma needs x > 0 (got ${x})`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const z = x - 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/**
 * Cumulative increase of a counter over samples in time order, corrected for resets
 * as Prometheus' increase() does (a drop means the counter restarted from 0), never negative.
 * No extrapolation: the increase between the first and last sample.
 */
export function counterIncrease(samples: readonly number[]): number {
  let total = 0;
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const cur = samples[i]!;
    if (!Number.isFinite(prev) || !Number.isFinite(cur) || cur < 0) throw new Error(`counter sample ${i} is not a non-negative number (got ${cur})`);
    total += cur >= prev ? cur - prev : cur;
  }
  return total;
}

/**
 * Beta prior of the canary's share q, centred on the planned share `w`, whose spread
 * matches a relative increase of `effect` (1 = twice the rate): sd(q) ~ w * effect.
 */
export function betaPrior(w: number, effect: number): { a: number; b: number } {
  if (!(w > 0 && w < 1)) throw new Error(`planned canary share must be in (0, 1) (got ${w})`);
  if (!(effect > 0)) throw new Error(`effect must be > 0 (got ${effect})`);
  const concentration = Math.max(1, (1 - w) / (w * effect * effect) - 1);
  return { a: concentration * w, b: concentration * (1 - w) };
}

function whole(name: string, v: number): void {
  if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${name} must be a non-negative count (got ${v})`);
}

function thresholdOf(alpha: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new Error(`alpha must be in (0, 1) (got ${alpha})`);
  return Math.log(1 / alpha);
}

export interface ErrorCounts {
  canaryRequests: number;
  stableRequests: number;
  canaryErrors: number;
  stableErrors: number;
}

/**
 * Error-type signal. Under "no regression" each error is the canary's with probability
 * equal to the canary's share of requests (rho, observed). The e-value is the Beta-mixture
 * binomial likelihood of the errors' split over its likelihood at rho:
 *   E = B(a + k, b + m) / B(a, b) / (rho^k (1 - rho)^m),  k, m = canary's, stable's errors.
 * A rejection counts as a regression only when the canary's share of errors exceeds rho.
 */
export function errorTest(counts: ErrorCounts, opts: { alpha: number; plannedShare: number; effect: number }): SequentialResult {
  const { canaryRequests: nc, stableRequests: ns, canaryErrors: k, stableErrors: m } = counts;
  whole('canaryRequests', nc); whole('stableRequests', ns); whole('canaryErrors', k); whole('stableErrors', m);
  const threshold = thresholdOf(opts.alpha);
  const share = nc + ns > 0 ? nc / (nc + ns) : 0;
  const base = { threshold, canaryRequests: nc, stableRequests: ns, share, canaryEvents: k, stableEvents: m };
  if (nc === 0 || ns === 0) return { ...base, logE: 0, decision: 'insufficient', worse: false };
  const { a, b } = betaPrior(opts.plannedShare, opts.effect);
  const logE = logBeta(a + k, b + m) - logBeta(a, b) - (k > 0 ? k * Math.log(share) : 0) - (m > 0 ? m * Math.log1p(-share) : 0);
  const worse = k + m > 0 && k / (k + m) > share;
  return { ...base, logE, worse, decision: logE >= threshold && worse ? 'reject' : 'continue' };
}

/**
 * Latency histogram: per-bucket (non-cumulative) counts of the canary and stable.
 * Null: a request's track does not depend on its bucket (same latency distribution).
 * Alternative: bucket j's canary share q_j ~ Beta(a, b), independently per bucket.
 * The share under the null is not known, so the denominator is its maximum likelihood
 * (rho = canary's share of all requests): that only lowers E below the martingale at
 * the true share, so P(ever E >= 1/alpha) <= alpha still holds.
 *   E = prod_j B(a + x_j, b + y_j) / B(a, b) / (rho^nc (1 - rho)^ns)
 * A rejection counts as a regression only when the canary's mass sits in slower buckets
 * (P(canary slower) > P(stable slower), from the bucket counts).
 */
export function histogramTest(canary: readonly number[], stable: readonly number[], opts: { alpha: number; plannedShare: number; effect: number }): SequentialResult {
  if (canary.length !== stable.length || canary.length === 0) throw new Error(`histograms need the same non-empty buckets (got ${canary.length} and ${stable.length})`);
  canary.forEach((v, i) => whole(`canary bucket ${i}`, v));
  stable.forEach((v, i) => whole(`stable bucket ${i}`, v));
  const threshold = thresholdOf(opts.alpha);
  const nc = canary.reduce((s, v) => s + v, 0);
  const ns = stable.reduce((s, v) => s + v, 0);
  const share = nc + ns > 0 ? nc / (nc + ns) : 0;
  // Requests above stable's median bucket: a readable count of "slow" requests per track.
  let below = 0;
  let medianBucket = stable.length - 1;
  for (let j = 0; j < stable.length; j++) {
    below += stable[j]!;
    if (below >= ns / 2) { medianBucket = j; break; }
  }
  const slow = (h: readonly number[]) => h.slice(medianBucket + 1).reduce((s, v) => s + v, 0);
  const base = { threshold, canaryRequests: nc, stableRequests: ns, share, canaryEvents: slow(canary), stableEvents: slow(stable) };
  if (nc === 0 || ns === 0) return { ...base, logE: 0, decision: 'insufficient', worse: false };
  const { a, b } = betaPrior(opts.plannedShare, opts.effect);
  const prior = logBeta(a, b);
  let logE = -(nc * Math.log(share) + ns * Math.log1p(-share));
  // Mann-Whitney statistic on buckets: pairs where the canary is slower minus pairs where it is faster.
  let stableBelow = 0;
  let dominance = 0;
  for (let j = 0; j < canary.length; j++) {
    const x = canary[j]!;
    const y = stable[j]!;
    if (x + y > 0) logE += logBeta(a + x, b + y) - prior;
    dominance += x * stableBelow - x * (ns - stableBelow - y);
    stableBelow += y;
  }
  const worse = dominance > 0;
  return { ...base, logE, worse, decision: logE >= threshold && worse ? 'reject' : 'continue' };
}

/** Non-cumulative bucket counts from Prometheus' cumulative `le` buckets (sorted by le, +Inf last). */
export function bucketCounts(cumulative: readonly number[]): number[] {
  return cumulative.map((v, i) => {
    const d = v - (i === 0 ? 0 : cumulative[i - 1]!);
    // Buckets scraped a moment apart can disagree by a request or two: never negative.
    return Math.max(0, d);
  });
}

/**
 * The level of each test when `tests` of them (signals x stages) run in one canary:
 * a false rollback anywhere in the canary then stays within `alpha` (Bonferroni).
 */
export function perTestAlpha(alpha: number, tests: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new Error(`alpha must be in (0, 1) (got ${alpha})`);
  if (!(Number.isInteger(tests) && tests >= 1)) throw new Error(`tests must be a whole number >= 1 (got ${tests})`);
  return alpha / tests;
}
