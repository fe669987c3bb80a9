// Judgment simulator: synthetic Prometheus-like counters, no services. Drives the
// canary-versus-stable judgment (src/workflows/sequential.ts) and, side by side on the
// same data, the previous one (a per-window exact binomial test at every evaluation
// for errors, a per-step Mann-Whitney of mean latency, both from decide.ts/stats.ts).
//   npx tsx bench/judgment.ts --plan plans/v1.4.0.yaml --runs 10000 --seed 1 [--rps 1000] [--json]
import Decimal from 'decimal.js';
import { loadPlanFile } from '../src/plan/loader';
import type { SignalSpec } from '../src/plan/schema';
import type { InstantResult } from '../src/adapters/metrics/provider';
import { judgeVersusStable, ratioExcessPValue, versusKey } from '../src/workflows/decide';
import { binomialUpperTail, mannWhitneyU, normalUpperTail } from '../src/workflows/stats';
import { counterIncrease } from '../src/workflows/sequential';
import { comparisonAlpha } from '../src/workflows/canary-judgment';
import { poisson, rng } from './random';

const args = process.argv.slice(2);
const flag = (name: string, fallback?: string): string => {
  const i = args.indexOf(`--${name}`);
  if (i >= 0 && args[i + 1] !== undefined) return args[i + 1]!;
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
};
const positive = (name: string, fallback: string): number => {
  const v = Number(flag(name, fallback));
  if (!(v > 0)) throw new Error(`--${name} must be a positive number (got ${flag(name, fallback)})`);
  return v;
};
const plan = loadPlanFile(flag('plan'));
const runs = Math.round(positive('runs', '1000'));
const seed = Math.round(positive('seed', '1'));
const rps = positive('rps', '1000');
const json = args.includes('--json');

const settings = plan.canary.versusStable;
if (!settings) throw new Error('the plan has no canary.versusStable settings');
const alpha = Number(settings.alpha);
const comparedBy = (test: 'errors' | 'latency') => {
  const signal = plan.signals.find((s) => s.versusStable?.test === test);
  if (!signal) throw new Error(`the plan compares no ${test} signal with stable (signals[].versusStable.test: ${test})`);
  return signal;
};
const errorSignal = comparedBy('errors');
const latencySignal = comparedBy('latency');
// The previous judgment's significance and step minimum (its plan fields are gone): as the shipped plan had them.
const OLD_SIGNIFICANCE = 0.01;
const OLD_MINIMUM_STEPS = 8;
const evalMs = plan.canary.evaluationInterval;
const stages = plan.canary.stages.filter((s) => s.traffic < 100);
if (plan.canary.evaluationInterval % 5000 !== 0 || plan.metrics.rateWindow % 5000 !== 0) {
  throw new Error(`canary.evaluationInterval and metrics.rateWindow must be whole multiples of the simulator's 5 s tick (a compressed demo plan is not simulated)`);
}
// The canary's alpha is shared by every comparison in every stage below 100%.
const testAlpha = comparisonAlpha(plan);

// Synthetic service: 0.2% background 5xx (the spec's healthy figure), log-normal latency
// (median 60 ms, sigma 0.6), the plan's buckets.
const BASE_ERROR = 0.002;
const LATENCY_MEDIAN = 0.06;
const LATENCY_SIGMA = 0.6;
// The plan's own buckets (its latency comparison reads them by `le`), +Inf last.
const BUCKETS = [...(latencySignal.versusStable as { buckets: string[] }).buckets.map(Number), Infinity];
const TICK_S = 5;          // simulation resolution
const SCRAPE_S = 15;       // scrape interval, each track scraped with its own jitter
const LATE_SCRAPE = 0.05;  // chance an evaluation still sees the scrape before the latest
const RESTART = 0.1;       // chance per run that the canary restarts (counters reset to 0)
const BURST = 0.3;         // chance per run of a 60 s shared burst (10x errors, 3x latency) on both tracks

const bucketProbs = (latencyFactor: number): number[] => {
  const cdf = BUCKETS.map((le) => (le === Infinity ? 1 : 1 - normalUpperTail((Math.log(le) - Math.log(LATENCY_MEDIAN * latencyFactor)) / LATENCY_SIGMA)));
  return cdf.map((c, i) => Math.max(0, c - (i === 0 ? 0 : cdf[i - 1]!)));
};
const bucketMids = BUCKETS.map((le, i) => (le === Infinity ? 20 : (le + (i === 0 ? 0 : BUCKETS[i - 1]!)) / 2));

interface Scenario { name: string; errorFactor: number; latencyFactor: number; kind: 'healthy' | 'errors' | 'latency' }
const SCENARIOS: Scenario[] = [
  { name: 'healthy', errorFactor: 1, latencyFactor: 1, kind: 'healthy' },
  { name: 'errors x1.5', errorFactor: 1.5, latencyFactor: 1, kind: 'errors' },
  { name: 'errors x2', errorFactor: 2, latencyFactor: 1, kind: 'errors' },
  { name: 'errors x5', errorFactor: 5, latencyFactor: 1, kind: 'errors' },
  { name: 'latency +25%', errorFactor: 1, latencyFactor: 1.25, kind: 'latency' },
  { name: 'latency +100%', errorFactor: 1, latencyFactor: 2, kind: 'latency' },
];

type Track = { req: number[]; err: number[]; buckets: number[][]; latSum: number[] };
/** Cumulative counters per tick for one track. */
function simulateTrack(rand: () => number, ticks: number, rate: number, errorP: number, probs: number[], burst: [number, number], burstProbs: number[], withBuckets: boolean, restartTick: number): Track {
  const t: Track = { req: [0], err: [0], buckets: [BUCKETS.map(() => 0)], latSum: [0] };
  for (let i = 1; i <= ticks; i++) {
    const inBurst = i >= burst[0] && i < burst[1];
    const reset = i === restartTick;
    const n = poisson(rand, rate * TICK_S);
    const e = poisson(rand, n * errorP * (inBurst ? 10 : 1));
    t.req.push((reset ? 0 : t.req[i - 1]!) + n);
    t.err.push((reset ? 0 : t.err[i - 1]!) + e);
    if (withBuckets) {
      const p = inBurst ? burstProbs : probs;
      const prev = reset ? BUCKETS.map(() => 0) : t.buckets[i - 1]!;
      let sum = 0;
      const row = p.map((pj, j) => { const c = pj > 1e-7 ? poisson(rand, n * pj) : 0; sum += c * bucketMids[j]!; return prev[j]! + c; });
      t.buckets.push(row);
      t.latSum.push((reset ? 0 : t.latSum[i - 1]!) + sum);
    }
  }
  return t;
}

/** Ticks at which a track was scraped, with jitter of up to +-2 s (rounded to ticks). */
function scrapeTicks(rand: () => number, ticks: number): number[] {
  const out = [0];
  for (let s = SCRAPE_S; s <= ticks * TICK_S; s += SCRAPE_S) out.push(Math.min(ticks, Math.max(0, Math.round((s + (rand() * 4 - 2)) / TICK_S))));
  return out;
}

/** The scraped samples an evaluation at tick `at` sees, up to the latest (or the one before, if late). */
function visible(scrapes: number[], at: number, late: boolean): number[] {
  const seen = scrapes.filter((s) => s <= at);
  return late && seen.length > 1 ? seen.slice(0, -1) : seen;
}

interface Outcome { newAt: number | null; oldAt: number | null }

function runOnce(rand: () => number, sc: Scenario, traffic: number, durationMs: number): Outcome {
  const w = traffic / 100;
  const ticks = Math.round(durationMs / 1000 / TICK_S);
  const burstStart = rand() < BURST ? Math.floor(rand() * ticks) : -1;
  const burst: [number, number] = [burstStart, burstStart < 0 ? -1 : burstStart + 60 / TICK_S];
  const restartTick = rand() < RESTART ? 1 + Math.floor(rand() * ticks) : -1;
  const withBuckets = sc.kind !== 'errors';
  const stableProbs = bucketProbs(1);
  const burstProbs = bucketProbs(3);
  const canary = simulateTrack(rand, ticks, rps * w, BASE_ERROR * sc.errorFactor, bucketProbs(sc.latencyFactor), burst, bucketProbs(3 * sc.latencyFactor), withBuckets, restartTick);
  const stable = simulateTrack(rand, ticks, rps * (1 - w), BASE_ERROR, stableProbs, burst, burstProbs, withBuckets, -1);
  const cScr = scrapeTicks(rand, ticks);
  const sScr = scrapeTicks(rand, ticks);
  const evalTicks = evalMs / 1000 / TICK_S;
  const windowTicks = plan.metrics.rateWindow / 1000 / TICK_S;
  let newAt: number | null = null;
  let oldAt: number | null = null;
  const oldRecent: boolean[] = [];
  const oldLatency: { c: string[]; s: string[] } = { c: [], s: [] };
  const policy = errorSignal.policy;
  const versus = { settings: settings!, plannedShare: w, alpha: testAlpha };
  const answer = (v: number): InstantResult => ({ kind: 'value', value: String(v), series: 1, resolvedQuery: 'simulated', at: '' });
  for (let at = evalTicks; at <= ticks && (newAt === null || oldAt === null); at += evalTicks) {
    const late = rand() < LATE_SCRAPE;
    const cs = visible(cScr, at, late);
    const ss = visible(sScr, at, late);
    const inc = (series: number[], seen: number[]) => counterIncrease(seen.map((i) => series[i]!));
    const minute = at * TICK_S / 60;
    if (newAt === null) {
      // The live canary's comparison (decide.ts judgeVersusStable) on what Prometheus would answer.
      const results: Record<string, InstantResult> = {};
      const track = (name: 'canary' | 'stable', t: Track, seen: number[]) => {
        if (sc.kind !== 'latency') {
          results[versusKey(errorSignal.id, name, 'requests')] = answer(inc(t.req, seen));
          results[versusKey(errorSignal.id, name, 'events')] = answer(inc(t.err, seen));
        }
        if (sc.kind !== 'errors') {
          let cumulative = 0;
          BUCKETS.forEach((le, j) => {
            cumulative += counterIncrease(seen.map((i) => t.buckets[i]![j]!));
            if (le !== Infinity) results[versusKey(latencySignal.id, name, `le=${le}`)] = answer(cumulative);
          });
          results[versusKey(latencySignal.id, name, 'requests')] = answer(cumulative);
          results[versusKey(latencySignal.id, name, 'sum')] = answer(inc(t.latSum, seen));
        }
      };
      track('canary', canary, cs);
      track('stable', stable, ss);
      const breach = (signal: SignalSpec) => judgeVersusStable(signal, versus, (key) => results[key]).outcome === 'breach';
      if ((sc.kind !== 'latency' && breach(errorSignal)) || (sc.kind !== 'errors' && breach(latencySignal))) newAt = minute;
    }
    if (oldAt === null) {
      // Previous judgment: the canary's errors over the last rate window against stable's ratio in it.
      let breach = false;
      if (sc.kind !== 'latency') {
        const from = (seen: number[]) => seen.filter((i) => i >= at - windowTicks);
        const cw = from(cs); const sw = from(ss);
        const cn = counterIncrease(cw.map((i) => canary.req[i]!)); const ce = counterIncrease(cw.map((i) => canary.err[i]!));
        const sn = counterIncrease(sw.map((i) => stable.req[i]!)); const se = counterIncrease(sw.map((i) => stable.err[i]!));
        const stableRatio = sn > 0 ? se / sn : 0;
        const bound = Math.min(1, stableRatio * (1 + Number(errorSignal.versusStable!.maxIncrease) / 100));
        if (cn > 0 && ce / cn > bound) breach = ratioExcessPValue(String(ce / cn), new Decimal(cn), new Decimal(bound)) < Number(errorSignal.samples?.significance ?? OLD_SIGNIFICANCE);
      }
      oldRecent.push(breach);
      if (oldRecent.length > policy.window) oldRecent.shift();
      if (oldRecent.filter(Boolean).length >= policy.breachesToAct) oldAt = minute;
      if (oldAt === null && sc.kind !== 'errors') {
        // Previous latency comparison: per-step mean latency, Mann-Whitney, minimum samples, maxIncrease.
        const step = (t: Track, seen: number[]) => {
          const a = seen.filter((i) => i <= at - evalTicks).pop() ?? 0; const b = seen[seen.length - 1]!;
          const n = t.req[b]! - t.req[a]!;
          return n > 0 ? String((t.latSum[b]! - t.latSum[a]!) / n) : null;
        };
        const cv = step(canary, cs); const sv = step(stable, ss);
        if (cv !== null && sv !== null) { oldLatency.c.push(cv); oldLatency.s.push(sv); }
        if (oldLatency.c.length >= OLD_MINIMUM_STEPS) {
          const mw = mannWhitneyU(oldLatency.c, oldLatency.s);
          const med = (v: string[]) => { const s = v.map(Number).sort((x, y) => x - y); return s[Math.floor(s.length / 2)]!; };
          const allowed = med(oldLatency.s) * (1 + Number(latencySignal.versusStable!.maxIncrease) / 100);
          if (mw.pGreater < OLD_SIGNIFICANCE && med(oldLatency.c) > allowed) oldAt = minute;
        }
      }
    }
  }
  return { newAt, oldAt };
}

/** Clopper-Pearson upper 95% bound (one-sided 97.5%, as the two-sided interval's upper end) by bisection. */
function upperBound(k: number, n: number): number {
  if (k >= n) return 1;
  let lo = k / n; let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    // P(X <= k | mid) = 1 - P(X >= k+1)
    if (1 - binomialUpperTail(k + 1, n, mid) > 0.025) lo = mid; else hi = mid;
  }
  return hi;
}

/** Minutes a fixed-sample one-sided binomial test at the same level, told the error factor in advance, needs for `power`. */
function fixedSampleMinutes(traffic: number, factor: number, power: number): number {
  const w = traffic / 100;
  const q1 = (w * factor) / (w * factor + 1 - w);
  const perMinute = 60 * rps * BASE_ERROR * (w * factor + 1 - w);
  for (let n = 1; n < 1e6; n = Math.ceil(n * 1.02)) {
    let c = Math.ceil(n * w);
    while (c <= n && binomialUpperTail(c, n, w) > testAlpha) c += 1;
    if (binomialUpperTail(c, n, q1) >= power) return n / perMinute;
  }
  return Infinity;
}

const quantile = (v: number[], q: number) => { if (v.length === 0) return NaN; const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]!; };

const rows: Record<string, unknown>[] = [];
const started = Date.now();
const wholeCanary = { new: new Array<boolean>(runs).fill(false), old: new Array<boolean>(runs).fill(false) };
for (const sc of SCENARIOS) {
  for (const stage of stages) {
    const rand = rng(seed * 1000003 + SCENARIOS.indexOf(sc) * 101 + stage.traffic);
    const res = Array.from({ length: runs }, () => runOnce(rand, sc, stage.traffic, stage.duration));
    if (sc.kind === 'healthy') res.forEach((r, i) => { if (r.newAt !== null) wholeCanary.new[i] = true; if (r.oldAt !== null) wholeCanary.old[i] = true; });
    for (const judgment of ['new', 'old'] as const) {
      const times = res.map((r) => (judgment === 'new' ? r.newAt : r.oldAt)).filter((t): t is number => t !== null);
      const k = times.length;
      const row: Record<string, unknown> = { scenario: sc.name, traffic: stage.traffic, judgment, runs, rollbacks: k };
      if (sc.kind === 'healthy') Object.assign(row, { falseRollback: k / runs, falseRollbackUpper95: upperBound(k, runs) });
      else Object.assign(row, { detection: k / runs, falsePromotion: 1 - k / runs, medianMinutes: quantile(times, 0.5), p95Minutes: quantile(times, 0.95) });
      if (sc.kind === 'errors' && judgment === 'new') Object.assign(row, { fixed50Minutes: fixedSampleMinutes(stage.traffic, sc.errorFactor, 0.5), fixed80Minutes: fixedSampleMinutes(stage.traffic, sc.errorFactor, 0.8) });
      rows.push(row);
    }
  }
  if (sc.kind === 'healthy') {
    // Run i of every stage together is one healthy canary: a false rollback in any stage counts.
    for (const judgment of ['new', 'old'] as const) {
      const k = wholeCanary[judgment].filter(Boolean).length;
      rows.push({ scenario: sc.name, traffic: 'whole canary', judgment, runs, rollbacks: k, falseRollback: k / runs, falseRollbackUpper95: upperBound(k, runs) });
    }
  }
}
const seconds = (Date.now() - started) / 1000;
if (json) {
  console.log(JSON.stringify({ plan: plan.version, runs, seed, rps, alpha, testAlpha, seconds, rows }, null, 2));
} else {
  const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : '');
  const min = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(1)} min` : '');
  console.log(`plan ${plan.version}, ${runs} runs per cell, seed ${seed}, ${rps} rps in total, alpha ${alpha} (${testAlpha} per test), ${seconds.toFixed(0)} s`);
  console.log('| scenario | traffic | judgment | false rollback (95% upper) | detection | false promotion | median | p95 | fixed-sample 50% / 80% power |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const fr = r.falseRollback === undefined ? '' : `${pct(r.falseRollback)} (${pct(r.falseRollbackUpper95)})`;
    const traffic = typeof r.traffic === 'number' ? `${r.traffic}%` : r.traffic;
    const fixed = r.fixed50Minutes === undefined ? '' : `${min(r.fixed50Minutes)} / ${min(r.fixed80Minutes)}`;
    console.log(`| ${r.scenario} | ${traffic} | ${r.judgment} | ${fr} | ${pct(r.detection)} | ${pct(r.falsePromotion)} | ${min(r.medianMinutes)} | ${min(r.p95Minutes)} | ${fixed} |`);
  }
}
