// `spark-release judge backtest` against a real Prometheus holding recorded series: three past
// canaries written as OpenMetrics (the metric names the demo plan's signals and triggers read),
// turned into TSDB blocks by promtool and served by a Prometheus of our own that scrapes nothing.
// The plan is the demo plan with 15 s stages (test/fixtures/plans/backtest.yaml).
import path from 'node:path';
import { httpDurationBuckets } from '../../demo/service-metrics';
import { main } from '../../src/client';
import { projectRoot } from '../../src/config';
import type { BacktestResult } from '../../src/judge/backtest';
import { loadPlanFile } from '../../src/plan/loader';
import { freePort, startRecordedPrometheus, type OwnPrometheus } from '../support/own-prometheus';

jest.setTimeout(180_000);

const PLAN_FILE = path.join(projectRoot, 'test/fixtures/plans/backtest.yaml');
const plan = loadPlanFile(PLAN_FILE);
const SERVICE = plan.service;
/** The canary's planned length (every stage clean at its end). */
const CANARY_MS = plan.canary.stages.reduce((sum, s) => sum + s.duration, 0);
const STAGE_MS = plan.canary.stages[0]!.duration;

/** Three recorded releases, 20 minutes apart (beyond Prometheus' 5-minute lookback). */
const HEALTHY = Date.parse('2025-03-03T12:00:00Z');
const FAULTY = HEALTHY + 20 * 60_000;
const MISSING = HEALTHY + 40 * 60_000;
/** 5xx on the canary: 10% of its requests from 5 s into stage 2. */
const FAULT_AT = FAULTY + STAGE_MS + 5_000;

/** Requests a second: a 1% canary gathers the 5xx signal's 200 requests over its 15 s stage, not in one 10 s rate window. */
const RPS = 1600;
const BACKGROUND_5XX = 0.001;
const LEAD_IN_MS = 60_000;
const TAIL_MS = 60_000;
/** The demo service's buckets (demo/service-metrics.ts), which the plan's latency comparison reads by le. */
const BUCKETS = [...httpDurationBuckets.map(String), '+Inf'];
/** Latency mix (seconds, share of requests): P95 50 ms. */
const LATENCIES: [number, number][] = [[0.02, 0.6], [0.04, 0.35], [0.09, 0.05]];

interface Window { start: number; faultAt?: number; canaryLacks?: string }
const WINDOWS: Window[] = [{ start: HEALTHY }, { start: FAULTY, faultAt: FAULT_AT }, { start: MISSING, canaryLacks: 'ws_staleness_seconds' }];

/** The canary's planned weight at `t` of a release whose stage 1 began at `start`. */
function weightAt(start: number, t: number): number {
  if (t < start) return 0;
  let end = start;
  for (const stage of plan.canary.stages) {
    end += stage.duration;
    if (t < end) return stage.traffic;
  }
  return 100;
}

/** OpenMetrics text of every window: counters integrate each second's traffic, one sample a second. */
function recording(): string {
  type Series = { labels: string; samples: string[] };
  const families = new Map<string, { type: string; series: Map<string, Series> }>();
  const sample = (family: string, type: string, name: string, labels: Record<string, string>, value: number, t: number) => {
    const fam = families.get(family) ?? { type, series: new Map<string, Series>() };
    families.set(family, fam);
    const text = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
    const key = `${name}{${text}}`;
    const series = fam.series.get(key) ?? { labels: key, samples: [] };
    fam.series.set(key, series);
    series.samples.push(`${key} ${Number(value.toPrecision(12))} ${t / 1000}`);
  };
  const totals = new Map<string, number>();
  const add = (key: string, n: number) => totals.set(key, (totals.get(key) ?? 0) + n);
  const whole = (key: string, n: number) => {
    // Whole events, carrying the fraction to the next second.
    add(`${key}:carry`, n);
    const events = Math.floor(totals.get(`${key}:carry`)!);
    add(`${key}:carry`, -events);
    add(key, events);
    return events;
  };
  for (const w of WINDOWS) {
    for (let t = w.start - LEAD_IN_MS; t <= w.start + CANARY_MS + TAIL_MS; t += 1000) {
      // Each sample counts the second before it, at that second's weight.
      const canaryShare = weightAt(w.start, t - 1000) / 100;
      const faulty = w.faultAt !== undefined && t - 1000 >= w.faultAt;
      for (const track of ['canary', 'stable'] as const) {
        const base = { service: SERVICE, track };
        const requests = whole(`${track}:requests`, RPS * (track === 'canary' ? canaryShare : 1 - canaryShare));
        const failRatio = BACKGROUND_5XX + (track === 'canary' && faulty ? 0.1 : 0);
        const failed = Math.min(requests, whole(`${track}:failed`, requests * failRatio));
        for (const [status, n] of [['200', requests - failed], ['503', failed]] as const) {
          const labels = { ...base, status_code: status };
          const prefix = `${track}:${status}`;
          LATENCIES.forEach(([latency, share], i) => {
            const k = whole(`${prefix}:latency${i}`, n * share);
            add(`${prefix}:sum`, k * latency);
            add(`${prefix}:count`, k);
            BUCKETS.forEach((le) => { if (le === '+Inf' || latency <= Number(le)) add(`${prefix}:le${le}`, k); });
          });
          for (const le of BUCKETS) sample('http_request_duration_seconds', 'histogram', 'http_request_duration_seconds_bucket', { ...labels, le }, totals.get(`${prefix}:le${le}`) ?? 0, t);
          sample('http_request_duration_seconds', 'histogram', 'http_request_duration_seconds_sum', labels, totals.get(`${prefix}:sum`) ?? 0, t);
          sample('http_request_duration_seconds', 'histogram', 'http_request_duration_seconds_count', labels, totals.get(`${prefix}:count`) ?? 0, t);
        }
        const counters: [string, number][] = [
          ['idempotency_requests', whole(`${track}:orders`, requests * 0.5)], ['idempotency_conflicts', 0], ['risk_blocks', 0],
          ['csp_violations', 0], ['ws_disconnects', 0], ['decimal_precision_errors', 0], ['process_cpu_seconds', 0.1],
        ];
        for (const [name, n] of counters) {
          add(`${track}:${name}`, n);
          sample(name, 'counter', `${name}_total`, base, totals.get(`${track}:${name}`)!, t);
        }
        add(`${track}:gc:count`, 2);
        add(`${track}:gc:sum`, 0.004);
        sample('nodejs_gc_duration_seconds', 'summary', 'nodejs_gc_duration_seconds_count', base, totals.get(`${track}:gc:count`)!, t);
        sample('nodejs_gc_duration_seconds', 'summary', 'nodejs_gc_duration_seconds_sum', base, totals.get(`${track}:gc:sum`)!, t);
        const gauges: [string, number, Record<string, string>?][] = [
          ['ws_staleness_seconds', 1], ['spark_eventloop_lag_p95_seconds', 0.005], ['market_feed_staleness_seconds', 2, { feed: 'bist' }],
          ['db_pool_active_connections', 4], ['db_pool_max_connections', 20], ['process_resident_memory_bytes', 80 * 2 ** 20],
          ['outbox_lag_seconds', 0.5], ['idempotency_keys_stored', 1000], ['pg_dead_tuples', 1000],
        ];
        for (const [name, value, extra] of gauges) {
          if (track === 'canary' && w.canaryLacks === name) continue;
          sample(name, 'gauge', name, { ...base, ...extra }, value, t);
        }
      }
    }
  }
  const lines: string[] = [];
  for (const [name, fam] of families) {
    lines.push(`# TYPE ${name} ${fam.type}`);
    for (const series of fam.series.values()) lines.push(...series.samples);
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

let prometheus: OwnPrometheus;

beforeAll(async () => {
  prometheus = await startRecordedPrometheus(recording());
});

afterAll(async () => {
  await prometheus?.close();
});

const iso = (ms: number) => new Date(ms).toISOString();

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['judge', 'backtest', ...args], (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function replay(from: number, to: number, ...more: string[]): Promise<BacktestResult> {
  const { code, out, err } = await cli('--plan', PLAN_FILE, '--from', iso(from), '--to', iso(to), '--prometheus', prometheus.url, '--json', ...more);
  if (code !== 0) throw new Error(`backtest failed (${code}): ${err}`);
  return JSON.parse(out) as BacktestResult;
}

test('a healthy recorded canary is promoted through every stage, each ending with every signal passing', async () => {
  const r = await replay(HEALTHY, HEALTHY + CANARY_MS + 30_000);
  expect(r.verdict).toEqual({ kind: 'promoted', at: iso(HEALTHY + CANARY_MS) });
  expect(r.stages.map((s) => [s.stage, s.outcome, s.evaluations])).toEqual(plan.canary.stages.map((_, i) => [i + 1, 'passed', STAGE_MS / plan.canary.evaluationInterval]));
  for (const stage of r.stages) {
    expect(stage.last!.signals.map((s) => [s.id, s.outcome])).toEqual(plan.signals.map((s) => [s.id, 'pass']));
    expect(stage.last!.triggers.every((t) => t.condition === false)).toBe(true);
    expect(stage.last!.trafficShare?.outcome).toBe('pass');
    expect(stage.last!.unmeasured).toEqual([]);
  }
  // The 1% stage gathers the 5xx signal's 200 requests over the stage, not in one rate window.
  expect(r.stages[0]!.last!.signals.find((s) => s.id === 'error_rate_5xx')!.overStage).toBe(true);
  expect(r.evaluations.some((e) => e.wouldPage)).toBe(false);
  // The baseline is stable's before the canary: its P95 (the 50 ms bucket bound) and its background 5xx.
  const baseline = Object.fromEntries(r.baseline.values.map((b) => [b.id, b.value]));
  expect(r.baseline.track).toBe('stable');
  expect(Number(baseline.api_p95_latency)).toBeCloseTo(50, 0);
  expect(Number(baseline.error_rate_5xx)).toBeCloseTo(BACKGROUND_5XX * 100, 1);
});

test('a window shorter than the canary is incomplete in the stage it ends in, with a readable timeline', async () => {
  const { code, out } = await cli('--plan', PLAN_FILE, '--from', iso(HEALTHY), '--to', iso(HEALTHY + 2 * STAGE_MS + 5_000), '--prometheus', prometheus.url);
  expect(code).toBe(0);
  expect(out).toMatch(/^verdict: incomplete: window ended in stage 3 \(25%\)/m);
  expect(out).toContain(`baseline (for relative thresholds): the stable track at ${iso(HEALTHY)}: p95=50ms 5xx=0.`);
  expect(out).toContain("one evaluation every 1s (the plan's durations at its time scale 0.0167)");
  expect(out).toContain(`${iso(HEALTHY + STAGE_MS)}  +00:15 | Stage 1 (1%) |`);
  expect(out).toMatch(/\| Stage 1 \(1%\) \| .* \| 8\/8 PASS \| IC: Proceed$/m);
  expect(out).toMatch(/^stage 1 \(1%\) passed: .* 15 evaluations$/m);
  expect(out).toMatch(/^ {2}5xx error rate +pass +\d+(\.\d+)?% <= 1% on \d+ samples since the stage began$/m);
  // People read rounded numbers; raw floats stay in --json.
  expect(out).not.toMatch(/\d\.\d{5,}/);
});

test('a recorded 5xx regression rolls back in the stage where it starts, naming the 5xx signal', async () => {
  const r = await replay(FAULTY, FAULTY + CANARY_MS + 30_000);
  if (r.verdict.kind !== 'rollback') throw new Error(`expected a rollback, got ${JSON.stringify(r.verdict)}`);
  expect(r.verdict.stage).toBe(2);
  // The 5xx trigger (> 3% for 5 plan minutes: 5 s here) fires before the signal's 2-of-3 budget,
  // which counts independent 10 s rate windows.
  expect(r.verdict.cause).toBe('error_rate_over_3pct');
  expect(r.verdict.reason).toMatch(/^trigger error_rate_over_3pct: 5xx > 3% for 5 min \(\d+(\.\d+)?\)$/);
  expect(Date.parse(r.verdict.at)).toBeGreaterThan(FAULT_AT + 5_000);
  expect(Date.parse(r.verdict.at)).toBeLessThanOrEqual(FAULT_AT + 10_000);
  expect(r.stages.map((s) => s.outcome)).toEqual(['passed', 'rolled-back']);
  expect(r.stages[0]!.last!.signals.every((s) => s.outcome === 'pass')).toBe(true);

  // The same window judged from stage 2 on (--stage): the same stage rolls back.
  const fromStage2 = await replay(FAULTY + STAGE_MS, FAULTY + CANARY_MS, '--stage', '2');
  expect(fromStage2.verdict).toMatchObject({ kind: 'rollback', stage: 2, cause: 'error_rate_over_3pct' });
  expect(fromStage2.stages.map((s) => s.stage)).toEqual([2]);
});

test('a signal the canary never exports would page; nobody answers, so the stage rolls back after the human wait limit', async () => {
  const r = await replay(MISSING, MISSING + CANARY_MS + 60_000);
  const paged = r.evaluations.filter((e) => e.wouldPage);
  expect(paged).toHaveLength(1);
  expect(paged[0]!.wouldPage).toMatch(/^Stage 1 \(1%\) held: WebSocket staleness: no-data 3 times in a row/);
  if (r.verdict.kind !== 'rollback') throw new Error(`expected a rollback, got ${JSON.stringify(r.verdict)}`);
  expect(r.verdict.stage).toBe(1);
  expect(r.verdict.cause).toBe('ws_staleness');
  expect(r.verdict.reason).toMatch(/^no human answered within 30s while held: WebSocket staleness: no-data/);
  expect(Date.parse(r.verdict.at) - Date.parse(paged[0]!.at)).toBe(plan.canary.humanWaitLimit);
});

test('bad input names its field', async () => {
  const window = ['--from', iso(HEALTHY), '--to', iso(HEALTHY + 60_000)];
  const cases: [string[], RegExp][] = [
    [['--plan', PLAN_FILE, '--from', 'yesterday', '--to', 'now'], /^error: --from: "yesterday" is not a time/],
    [['--plan', PLAN_FILE, '--from', '-1h', '--to', '-2h'], /^error: --to: .* is not after --from/],
    [['--plan', PLAN_FILE, '--from', '-1h', '--to', 'now+1h'], /^error: --to: "now\+1h" is not a time/],
    [['--plan', PLAN_FILE, '--from', '-1h', '--to', '2999-01-01T00:00:00Z'], /^error: --to: 2999-01-01T00:00:00.000Z is in the future/],
    [['--plan', 'no-such-plan.yaml', ...window], /^error: --plan: invalid release plan .*cannot read the plan file: ENOENT/s],
    [['--plan', PLAN_FILE, ...window, '--stage', '9'], /^error: --stage: the plan has 5 canary stages, not 9/],
    [['--plan', PLAN_FILE, ...window, '--prometheus', 'ftp://example'], /^error: --prometheus must be an http\(s\) URL/],
    [['--plan', PLAN_FILE, ...window, '--prometheus', `http://127.0.0.1:${await freePort()}`], /^error: --prometheus: Prometheus unreachable at/],
  ];
  for (const [args, expected] of cases) {
    const { code, err } = await cli(...args);
    expect({ args, code, err }).toEqual({ args, code: 2, err: expect.stringMatching(expected) });
  }
});
