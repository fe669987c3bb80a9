// Seeded random numbers for the judgment simulator and the Monte Carlo tests.
import { logGamma } from '../src/workflows/sequential';

/** mulberry32: a small, fast 32-bit PRNG; uniform in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Poisson(mu): inversion for small mu, Hormann's PTRS (transformed rejection) for mu >= 10. */
export function poisson(rand: () => number, mu: number): number {
  if (mu <= 0) return 0;
  if (mu < 10) {
    let k = 0;
    let p = Math.exp(-mu);
    let cdf = p;
    const u = rand();
    while (u > cdf && k < 1000) { k += 1; p *= mu / k; cdf += p; }
    return k;
  }
  const slam = Math.sqrt(mu);
  const loglam = Math.log(mu);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rand() - 0.5;
    const v = rand();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor((2 * a / us + b) * u + mu + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -mu + k * loglam - logGamma(k + 1)) return k;
  }
}
