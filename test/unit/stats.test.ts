// The statistics behind the canary judgment, against hand-computed cases and an
// independent implementation (@stdlib's Kruskal-Wallis test: for two groups its
// p-value is the two-sided, tie-corrected, normal-approximation Mann-Whitney p).
import fc from 'fast-check';
import { binomialLowerTail, binomialUpperTail, mannWhitneyU, median, normalUpperTail, significant } from '../../src/workflows/stats';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const kruskal = require('@stdlib/stats-kruskal-test') as (...groups: number[][]) => { pValue: number; statistic: number };

const str = (xs: number[]) => xs.map(String);

describe('normalUpperTail', () => {
  it.each([
    [0, 0.5],
    [1, 0.158655254],
    [1.6448536, 0.05],
    [2.3263479, 0.01],
    [3.0902323, 0.001],
    [-1.959964, 0.975],
  ])('P(Z > %d) = %d', (z, p) => {
    expect(normalUpperTail(z)).toBeCloseTo(p, 7);
  });
});

describe('mannWhitneyU (hand-computed)', () => {
  it('every canary value above every stable value: U = n1*n2', () => {
    // Ranks 1..5, canary 3+4+5 = 12, U = 12 - 6 = 6; mean 3, variance 6/12 * 6 = 3, z = 3/sqrt(3).
    const r = mannWhitneyU(str([3, 4, 5]), str([1, 2]));
    expect(r).toMatchObject({ u: 6, n1: 3, n2: 2 });
    expect(r.z).toBeCloseTo(Math.sqrt(3), 12);
    expect(r.pGreater).toBeCloseTo(0.0416323, 6);
    expect(r.pTwoSided).toBeCloseTo(0.0832645, 6);
  });

  it('ties take midranks and shrink the variance', () => {
    // Pooled 1c 2c 2c 2s 3s: the three 2s share rank 3. Canary ranks 1+3+3 = 7, U = 7 - 6 = 1.
    // Tie term 3^3 - 3 = 24; variance 6/12 * (6 - 24/20) = 2.4; z = (1 - 3)/sqrt(2.4).
    const r = mannWhitneyU(str([1, 2, 2]), str([2, 3]));
    expect(r.u).toBe(1);
    expect(r.z).toBeCloseTo(-2 / Math.sqrt(2.4), 12);
    expect(r.pGreater).toBeCloseTo(1 - 0.0983528, 6);
  });

  it('a canary below stable is not "greater": p near 1', () => {
    // U = 0, mean 8, variance 16/12 * 9 = 12, z = -8/sqrt(12) = -2.3094.
    const r = mannWhitneyU(str([1, 2, 3, 4]), str([10, 11, 12, 13]));
    expect(r.u).toBe(0);
    expect(r.z).toBeCloseTo(-8 / Math.sqrt(12), 12);
    expect(r.pGreater).toBeCloseTo(0.9895393, 6);
  });

  it('all values tied: no evidence either way (p = 1), not a division by zero', () => {
    expect(mannWhitneyU(['0', '0', '0'], ['0', '0'])).toMatchObject({ u: 3, z: 0, pGreater: 1, pTwoSided: 1 });
  });

  it('orders decimal strings exactly: 0.30000000000000004 is above 0.3', () => {
    const r = mannWhitneyU(['0.30000000000000004'], ['0.3']);
    expect(r.u).toBe(1);
  });

  it('refuses an empty group, naming both sizes', () => {
    expect(() => mannWhitneyU([], ['1'])).toThrow('needs samples in both groups (got 0 and 1)');
  });
});

describe('mannWhitneyU against @stdlib/stats-kruskal-test', () => {
  it.each([
    [[12, 15, 9, 20, 17, 14], [8, 10, 11, 7, 13, 9]],
    [[0.1, 0.1, 0.2, 0.1, 0.3, 0.1, 0.1], [0, 0.1, 0, 0, 0.1, 0, 0, 0.2]],
    [[140, 142, 150, 139, 160, 158, 141, 155], [138, 141, 140, 139, 142, 137, 140, 141]],
  ])('two-sided p equals the Kruskal-Wallis p for %j vs %j', (a, b) => {
    expect(mannWhitneyU(str(a), str(b)).pTwoSided).toBeCloseTo(kruskal(a, b).pValue, 6);
  });

  it('agrees on random samples with many ties', () => {
    const sample = fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 3, maxLength: 25 });
    fc.assert(fc.property(sample, sample, (a, b) => {
      fc.pre(new Set([...a, ...b]).size > 1);
      const ours = mannWhitneyU(str(a), str(b)).pTwoSided;
      expect(Math.abs(ours - kruskal(a, b).pValue)).toBeLessThan(1e-6);
    }), { numRuns: 200 });
  });
});

describe('binomialUpperTail', () => {
  const exact = (k: number, n: number, p: number) => {
    let sum = 0;
    let c = 1;
    for (let i = 0; i <= n; i++) {
      if (i >= k) sum += c * p ** i * (1 - p) ** (n - i);
      c = (c * (n - i)) / (i + 1);
    }
    return sum;
  };

  it('one error among 10 requests against a 1% bound is not rare (9.6%)', () => {
    expect(binomialUpperTail(1, 10, 0.01)).toBeCloseTo(1 - 0.99 ** 10, 12);
  });

  it.each([[2, 3, 0.5, 0.5], [3, 3, 0.5, 0.125], [0, 5, 0.2, 1], [6, 5, 0.2, 0], [1, 4, 0, 0], [4, 4, 1, 1]])(
    'P(X >= %d | n=%d, p=%d) = %d', (k, n, p, expected) => {
      expect(binomialUpperTail(k, n, p)).toBeCloseTo(expected, 12);
    });

  it('matches the direct sum on small cases', () => {
    for (const [k, n, p] of [[7, 250, 0.01], [5, 10, 0.01], [30, 100, 0.2], [12, 40, 0.3]] as const) {
      expect(binomialUpperTail(k, n, p)).toBeCloseTo(exact(k, n, p), 10);
    }
  });

  it('stays finite for a production-sized window (60,000 requests) where (1-p)^n underflows', () => {
    const p = binomialUpperTail(641, 60_000, 0.01);
    expect(p).toBeGreaterThan(0.03);
    expect(p).toBeLessThan(0.06);
    expect(binomialUpperTail(700, 60_000, 0.01)).toBeLessThan(1e-4);
  });

  it('refuses fractional counts and impossible probabilities', () => {
    expect(() => binomialUpperTail(1.5, 10, 0.1)).toThrow('whole k and n');
    expect(() => binomialUpperTail(1, 10, 1.1)).toThrow('0 <= p <= 1');
  });
});

describe('median and significant', () => {
  it('median is exact for odd and even counts', () => {
    expect(median(['3', '1', '2']).toString()).toBe('2');
    expect(median(['0.1', '0.2']).toString()).toBe('0.15');
  });

  it('compares a p-value with the level in decimal', () => {
    expect(significant(0.0099, '0.01')).toBe(true);
    expect(significant(0.01, '0.01')).toBe(false);
  });
});

describe('binomialLowerTail', () => {
  it('matches hand-computed sums and complements the upper tail', () => {
    expect(binomialLowerTail(0, 2000, 0.005)).toBeCloseTo(0.995 ** 2000, 15);
    expect(binomialLowerTail(1, 10, 0.1)).toBeCloseTo(0.9 ** 10 + 10 * 0.1 * 0.9 ** 9, 12);
    expect(binomialLowerTail(3, 40, 0.2) + binomialUpperTail(4, 40, 0.2)).toBeCloseTo(1, 12);
    expect([binomialLowerTail(-1, 5, 0.3), binomialLowerTail(5, 5, 0.3), binomialLowerTail(2, 5, 0)]).toEqual([0, 1, 1]);
  });
});
