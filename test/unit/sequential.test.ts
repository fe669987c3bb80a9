import { bucketCounts, counterIncrease, errorTest, histogramTest, logBeta, logGamma, betaPrior, perTestAlpha } from '../../src/workflows/sequential';
import { poisson, rng } from '../../bench/random';

// effect 1/sqrt(3) at share 0.5 gives the uniform prior Beta(1, 1), which makes hand computation easy.
const uniform = { alpha: 0.01, plannedShare: 0.5, effect: 1 / Math.sqrt(3) };
const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

describe('log gamma and log beta', () => {
  it('match factorials and known values', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(171)).toBeCloseTo(Math.log(factorial(170)), 8);
    // B(3, 4) = 2! 3! / 6! = 1/60
    expect(logBeta(3, 4)).toBeCloseTo(Math.log(1 / 60), 12);
  });
  it('the prior for share 0.5 and effect 1/sqrt(3) is uniform', () => {
    const { a, b } = betaPrior(0.5, 1 / Math.sqrt(3));
    expect(a).toBeCloseTo(1, 12);
    expect(b).toBeCloseTo(1, 12);
  });
});

describe('counterIncrease', () => {
  it('sums increases and treats a drop as a restart from zero', () => {
    expect(counterIncrease([5, 10, 2, 7])).toBe(12);
    expect(counterIncrease([3, 3, 3])).toBe(0);
    expect(counterIncrease([9])).toBe(0);
    expect(counterIncrease([100, 0, 0, 4])).toBe(4);
  });
  it('rejects a negative or non-numeric sample, naming it', () => {
    expect(() => counterIncrease([1, -1])).toThrow(/sample 1/);
    expect(() => counterIncrease([1, NaN])).toThrow(/sample 1/);
  });
  it('bucketCounts de-cumulates le buckets, never negative', () => {
    expect(bucketCounts([2, 5, 5, 9])).toEqual([2, 3, 0, 4]);
    expect(bucketCounts([2, 1, 4])).toEqual([2, 0, 3]);
  });
});

describe('errorTest', () => {
  it('uniform prior, share 0.5: E = k! m! / (k+m+1)! * 2^(k+m)', () => {
    const counts = (k: number, m: number) => ({ canaryRequests: 1000, stableRequests: 1000, canaryErrors: k, stableErrors: m });
    expect(errorTest(counts(3, 0), uniform).logE).toBeCloseTo(Math.log(2), 10);
    expect(errorTest(counts(2, 2), uniform).logE).toBeCloseTo(Math.log((factorial(2) * factorial(2) / factorial(5)) * 16), 10);
    // 10 of 10 errors on the canary: 1024/11 = 93.1 < 100, continue; 11 of 11: 2048/12 = 170.7, reject.
    const ten = errorTest(counts(10, 0), uniform);
    expect(ten.logE).toBeCloseTo(Math.log(1024 / 11), 10);
    expect(ten.decision).toBe('continue');
    const eleven = errorTest(counts(11, 0), uniform);
    expect(eleven.decision).toBe('reject');
    expect(eleven.worse).toBe(true);
    expect(eleven.threshold).toBeCloseTo(Math.log(100), 12);
  });
  it('a canary better than stable is never a regression, however strong the evidence', () => {
    const r = errorTest({ canaryRequests: 1000, stableRequests: 1000, canaryErrors: 0, stableErrors: 30 }, uniform);
    expect(r.logE).toBeGreaterThan(r.threshold);
    expect(r.worse).toBe(false);
    expect(r.decision).toBe('continue');
  });
  it('no requests on a track is insufficient; no errors at all is e = 1', () => {
    expect(errorTest({ canaryRequests: 0, stableRequests: 500, canaryErrors: 0, stableErrors: 3 }, uniform).decision).toBe('insufficient');
    const none = errorTest({ canaryRequests: 50, stableRequests: 950, canaryErrors: 0, stableErrors: 0 }, { alpha: 0.01, plannedShare: 0.05, effect: 1 });
    expect(none.logE).toBeCloseTo(0, 12);
    expect(none.decision).toBe('continue');
  });
  it('matches direct numerical integration of the mixture at share 0.05', () => {
    const opts = { alpha: 0.01, plannedShare: 0.05, effect: 1 };
    const { a, b } = betaPrior(0.05, 1);
    const k = 7; const m = 60; const rho = 50 / 1000;
    // Midpoint rule over q of q^(a+k-1) (1-q)^(b+m-1) / B(a, b), divided by rho^k (1-rho)^m.
    const steps = 100000;
    let integral = 0;
    for (let i = 0; i < steps; i++) {
      const q = (i + 0.5) / steps;
      integral += Math.exp((a + k - 1) * Math.log(q) + (b + m - 1) * Math.log1p(-q) - logBeta(a, b) - k * Math.log(rho) - m * Math.log1p(-rho));
    }
    const r = errorTest({ canaryRequests: 50, stableRequests: 950, canaryErrors: k, stableErrors: m }, opts);
    expect(r.logE).toBeCloseTo(Math.log(integral / steps), 3);
  });
  it('names the bad field', () => {
    expect(() => errorTest({ canaryRequests: -1, stableRequests: 1, canaryErrors: 0, stableErrors: 0 }, uniform)).toThrow(/canaryRequests/);
    expect(() => errorTest({ canaryRequests: 1, stableRequests: 1, canaryErrors: 0, stableErrors: 0 }, { ...uniform, alpha: 0 })).toThrow(/alpha/);
  });
});

describe('perTestAlpha', () => {
  it('splits the canary-wide level evenly and names bad input', () => {
    expect(perTestAlpha(0.01, 8)).toBeCloseTo(0.00125, 15);
    expect(() => perTestAlpha(0.01, 0)).toThrow(/tests/);
    expect(() => perTestAlpha(1, 2)).toThrow(/alpha/);
  });
});

describe('histogramTest', () => {
  it('uniform prior, two buckets: E = B(1,3) B(3,1) / 0.5^4 = 16/9, canary slower', () => {
    const r = histogramTest([0, 2], [2, 0], uniform);
    expect(r.logE).toBeCloseTo(Math.log(16 / 9), 10);
    expect(r.worse).toBe(true);
    expect(r.share).toBe(0.5);
  });
  it('the same evidence the other way round is not a regression', () => {
    const r = histogramTest([2, 0], [0, 2], uniform);
    expect(r.logE).toBeCloseTo(Math.log(16 / 9), 10);
    expect(r.worse).toBe(false);
  });
  it('identical shapes give no evidence beyond the prior penalty', () => {
    const r = histogramTest([10, 20, 10], [10, 20, 10], uniform);
    expect(r.logE).toBeLessThan(0);
    expect(r.decision).toBe('continue');
  });
  it('a clear shift to slower buckets is rejected', () => {
    const r = histogramTest([0, 0, 40], [40, 0, 0], uniform);
    expect(r.decision).toBe('reject');
    expect(r.canaryEvents).toBe(40);
  });
  it('mismatched buckets are an error', () => {
    expect(() => histogramTest([1, 2], [1], uniform)).toThrow(/same non-empty buckets/);
  });
});

// Monte Carlo: healthy streams, tested after every step; Ville's inequality bounds the
// chance that any look rejects by alpha. Margin: 3 binomial standard deviations.
const margin = (alpha: number, n: number) => alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / n);

describe('false rejections of healthy streams, monitored at every step (seeded Monte Carlo)', () => {
  it('error test: 2,000 streams x 90 looks at 5% share stay within alpha', () => {
    const rand = rng(12);
    const streams = 2000; const alpha = 0.01;
    let rejected = 0; let detected = 0;
    for (let s = 0; s < streams; s++) {
      const c = { canaryRequests: 0, stableRequests: 0, canaryErrors: 0, stableErrors: 0 };
      const bad = { ...c };
      let r1 = false; let r2 = false;
      for (let step = 0; step < 90; step++) {
        const nc = poisson(rand, 600); const ns = poisson(rand, 11400);
        c.canaryRequests += nc; c.stableRequests += ns;
        c.canaryErrors += poisson(rand, nc * 0.005); c.stableErrors += poisson(rand, ns * 0.005);
        bad.canaryRequests += nc; bad.stableRequests += ns;
        bad.canaryErrors += poisson(rand, nc * 0.01); bad.stableErrors += poisson(rand, ns * 0.005);
        if (!r1 && errorTest(c, { alpha, plannedShare: 0.05, effect: 1 }).decision === 'reject') r1 = true;
        if (!r2 && errorTest(bad, { alpha, plannedShare: 0.05, effect: 1 }).decision === 'reject') r2 = true;
      }
      if (r1) rejected += 1;
      if (r2) detected += 1;
    }
    expect(rejected / streams).toBeLessThanOrEqual(margin(alpha, streams));
    // The same streams with twice the canary's error rate: the test has power (it is not trivially silent).
    expect(detected / streams).toBeGreaterThan(0.9);
  });
  it('histogram test: 2,000 streams x 30 looks at 5% share stay within alpha', () => {
    const rand = rng(34);
    const streams = 2000; const alpha = 0.01;
    const probs = [0.05, 0.2, 0.35, 0.25, 0.1, 0.05];
    let rejected = 0;
    for (let s = 0; s < streams; s++) {
      const x = probs.map(() => 0); const y = probs.map(() => 0);
      for (let step = 0; step < 30; step++) {
        probs.forEach((p, j) => { x[j]! += poisson(rand, 60 * p); y[j]! += poisson(rand, 1140 * p); });
        if (histogramTest(x, y, { alpha, plannedShare: 0.05, effect: 0.25 }).decision === 'reject') { rejected += 1; break; }
      }
    }
    expect(rejected / streams).toBeLessThanOrEqual(margin(alpha, streams));
  });
  it('error test through restarting counters, stable traffic varying per step: 2,000 streams x 60 looks stay within alpha', () => {
    const rand = rng(56);
    const streams = 2000; const alpha = 0.01;
    let rejected = 0;
    for (let s = 0; s < streams; s++) {
      // Scraped counter values; the canary restarts once at a random step (its counters drop to 0).
      const restart = 1 + Math.floor(rand() * 60);
      const counters = { cr: [0], ce: [0], sr: [0], se: [0] };
      for (let step = 1; step <= 60; step++) {
        const load = 5000 + 4000 * Math.sin(step / 7);
        const nc = poisson(rand, load * 0.05); const ns = poisson(rand, load * 0.95);
        const push = (key: keyof typeof counters, add: number, resets: boolean) => {
          const series = counters[key];
          series.push((resets ? 0 : series[series.length - 1]!) + add);
        };
        push('cr', nc, step === restart); push('ce', poisson(rand, nc * 0.004), step === restart);
        push('sr', ns, false); push('se', poisson(rand, ns * 0.004), false);
        const r = errorTest({
          canaryRequests: counterIncrease(counters.cr), canaryErrors: counterIncrease(counters.ce),
          stableRequests: counterIncrease(counters.sr), stableErrors: counterIncrease(counters.se),
        }, { alpha, plannedShare: 0.05, effect: 1 });
        if (r.decision === 'reject') { rejected += 1; break; }
      }
    }
    expect(rejected / streams).toBeLessThanOrEqual(margin(alpha, streams));
  });
});
