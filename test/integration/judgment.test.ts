// Every outcome class of the canary judgment against a real Prometheus: a server
// of our own (so it can be stopped for the outage case without touching the shared
// one) scraping, every second, a fixture that serves the demo's metric names for
// several services at once, one per scenario. Queries are the shipped plan's.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InstantResult } from '../../src/adapters/metrics/provider';
import { createPrometheusProvider } from '../../src/adapters/metrics/prometheus';
import { loadPlanFileWith } from '../../src/plan/loader';
import type { ReleasePlan, SignalSpec } from '../../src/plan/schema';
import { judgeCanary, stageQueries } from '../../src/workflows/canary-judgment';
import { emptyMemory, judge, type JudgeMemory, type Judgment } from '../../src/workflows/decide';
import { startOwnPrometheus, type OwnPrometheus } from '../support/own-prometheus';

jest.setTimeout(150_000);

/** One track of one service: traffic and its shape. */
interface Track {
  rps: number;
  latency: number;
  /** Every n-th request fails with 503 (0: none). */
  failEvery: number;
  /** Series exported at all (false: the metrics are missing). */
  present: boolean;
  decimalErrorsPerSecond: number;
}

const healthy = (): Track => ({ rps: 50, latency: 0.04, failEvery: 0, present: true, decimalErrorsPerSecond: 0 });

/** Scenario -> track -> behaviour. Service names are the scenario names. */
const SCENARIOS: Record<string, { canary: Track; stable: Track }> = {
  healthy: { canary: healthy(), stable: healthy() },
  slow: { canary: { ...healthy(), latency: 0.6 }, stable: healthy() },
  decimal: { canary: { ...healthy(), decimalErrorsPerSecond: 1 }, stable: healthy() },
  missing: { canary: { ...healthy(), present: false }, stable: { ...healthy(), failEvery: 20 } },
  // A 1% canary: one request a second, one in ten failing.
  lowvolume: { canary: { ...healthy(), rps: 1, failEvery: 10 }, stable: healthy() },
  idle: { canary: { ...healthy(), rps: 0 }, stable: healthy() },
};

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5];

class Counters {
  requests = 0;
  failed = 0;
  latencySum = 0;
  buckets = BUCKETS.map(() => 0);
  decimalErrors = 0;
  private carry = 0;
  private decimalCarry = 0;

  tick(track: Track, seconds: number): void {
    this.carry += track.rps * seconds;
    const whole = Math.floor(this.carry);
    this.carry -= whole;
    for (let i = 0; i < whole; i++) {
      this.requests += 1;
      if (track.failEvery > 0 && this.requests % track.failEvery === 0) this.failed += 1;
      this.latencySum += track.latency;
      BUCKETS.forEach((le, b) => { if (track.latency <= le) this.buckets[b]! += 1; });
    }
    this.decimalCarry += track.decimalErrorsPerSecond * seconds;
    const errors = Math.floor(this.decimalCarry);
    this.decimalCarry -= errors;
    this.decimalErrors += errors;
  }
}

const counters = new Map<string, Counters>();
const key = (service: string, track: string) => `${service}/${track}`;
for (const [service, tracks] of Object.entries(SCENARIOS)) {
  for (const track of Object.keys(tracks)) counters.set(key(service, track), new Counters());
}

function exposition(): string {
  const lines: string[] = [];
  for (const [service, tracks] of Object.entries(SCENARIOS)) {
    for (const [name, track] of Object.entries(tracks)) {
      if (!track.present) continue;
      const c = counters.get(key(service, name))!;
      const l = `service="${service}",track="${name}"`;
      BUCKETS.forEach((le, b) => lines.push(`http_request_duration_seconds_bucket{${l},le="${le}"} ${c.buckets[b]}`));
      lines.push(`http_request_duration_seconds_bucket{${l},le="+Inf"} ${c.requests}`);
      lines.push(`http_request_duration_seconds_sum{${l}} ${c.latencySum}`);
      lines.push(`http_request_duration_seconds_count{${l},status_code="200"} ${c.requests - c.failed}`);
      // The 503 series exists from the start, as on a service that initialises its labels:
      // rate() cannot see the first increment of a series that appears.
      lines.push(`http_request_duration_seconds_count{${l},status_code="503"} ${c.failed}`);
      lines.push(`ws_staleness_seconds{${l}} 1`, `market_feed_staleness_seconds{${l},feed="bist"} 1`);
      lines.push(`risk_blocks_total{${l}} 0`, `csp_violations_total{${l}} 0`, `ws_disconnects_total{${l}} 0`);
      lines.push(`idempotency_requests_total{${l}} ${Math.floor(c.requests * 0.3)}`, `idempotency_conflicts_total{${l}} 0`);
      lines.push(`idempotency_keys_stored{${l}} 100`, `decimal_precision_errors_total{${l}} ${c.decimalErrors}`);
      lines.push(`spark_eventloop_lag_p95_seconds{${l}} 0.002`, `db_pool_active_connections{${l}} 2`, `db_pool_max_connections{${l}} 20`);
      lines.push(`outbox_lag_seconds{${l}} 0.1`, `pg_dead_tuples{${l}} 300`);
      lines.push(`nodejs_gc_duration_seconds_sum{${l},kind="minor"} ${c.requests * 0.0001}`, `nodejs_gc_duration_seconds_count{${l},kind="minor"} ${c.requests * 0.05}`);
      lines.push(`process_cpu_seconds_total{${l}} ${c.requests * 0.0005}`, `process_resident_memory_bytes{${l}} 80000000`);
    }
  }
  return lines.join('\n') + '\n';
}

let server: http.Server;
let prometheus: OwnPrometheus;
let ticker: NodeJS.Timeout;

beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let last = Date.now();
  ticker = setInterval(() => {
    const now = Date.now();
    for (const [service, tracks] of Object.entries(SCENARIOS)) {
      for (const [name, track] of Object.entries(tracks)) counters.get(key(service, name))!.tick(track, (now - last) / 1000);
    }
    last = now;
  }, 100);
  prometheus = await startOwnPrometheus({ jobs: { fixture: [`127.0.0.1:${(server.address() as AddressInfo).port}`] } });
  // Two rate windows (10 s) of data, and enough 2 s steps for the stable comparison.
  await sleep(24_000);
});

afterAll(async () => {
  clearInterval(ticker);
  await prometheus?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const provider = () => createPrometheusProvider({ baseUrl: prometheus.url, timeoutMs: 5000 });

function planFor(service: string): ReleasePlan {
  return loadPlanFileWith(`${__dirname}/../../plans/v1.4.0.yaml`, {
    service, metrics: { rateWindow: '10s' },
  });
}

interface EvaluateOptions {
  memory?: JudgeMemory;
  now?: number;
  signals?: SignalSpec[];
  baseline?: Record<string, string | null>;
}

/** The 50% stage (canary and stable take 50 requests/s each here), 20 s in: as the canary loop judges it. */
const STAGE = 3;
const STAGE_AGE_MS = 20_000;

/** One evaluation as the canary loop makes it: every instant query, counts since the stage began included. */
async function evaluate(service: string, opts: EvaluateOptions = {}): Promise<Judgment> {
  const plan = { ...planFor(service), ...(opts.signals ? { signals: opts.signals } : {}) };
  const now = opts.now ?? Date.now();
  const queries = stageQueries(plan, STAGE, STAGE_AGE_MS);
  const p = provider();
  const answers = await Promise.all(queries.unique.map((q) => p.instant(q)));
  const results: Record<string, InstantResult> = Object.fromEntries(queries.unique.map((q, i) => [q, answers[i]!]));
  return judgeCanary({
    plan, stageIndex: STAGE, stageStart: now - STAGE_AGE_MS, stageEnd: now + 3_600_000, now,
    baseline: opts.baseline ?? { csp_violations: '0' }, memory: opts.memory ?? emptyMemory(),
  }, results, queries.byId);
}

const signalOf = (j: Judgment, id: string) => j.signals.find((s) => s.id === id)!;
const triggerOf = (j: Judgment, id: string) => j.triggers.find((t) => t.id === id)!;
const comparisonOf = (j: Judgment, id: string) => j.comparisons.find((c) => c.id === id)!;

test('pass: a healthy canary passes every signal, every trigger and the comparison with stable', async () => {
  const j = await evaluate('healthy');
  expect(j.signals.map((s) => [s.id, s.outcome])).toEqual(j.signals.map((s) => [s.id, 'pass']));
  expect(j.triggers.filter((t) => t.outcome !== 'pass')).toEqual([]);
  expect(j.comparisons.map((c) => c.outcome)).toEqual(['pass', 'pass']);
  expect(j).toMatchObject({ action: 'continue', clean: true, missingData: false });
  expect(signalOf(j, 'api_p95_latency').value).toMatch(/^4[0-9](\.\d+)?$/); // 40-50 ms: interpolated in the 25-50 ms bucket
});

test('breach: a slow canary breaches the P95 signal and is worse than stable', async () => {
  const j = await evaluate('slow');
  expect(signalOf(j, 'api_p95_latency')).toMatchObject({ outcome: 'breach', threshold: '200' });
  expect(Number(signalOf(j, 'api_p95_latency').value)).toBeGreaterThan(500);
  // The 400 ms trigger's condition holds but not yet for its 5 minutes.
  expect(triggerOf(j, 'api_p95_over_400ms')).toMatchObject({ outcome: 'breach', condition: true, fired: false });
  const versus = comparisonOf(j, 'api_p95_latency');
  expect(versus).toMatchObject({ outcome: 'breach', test: { kind: 'latency' } });
  expect(Number(versus.test!.logE)).toBeGreaterThanOrEqual(Number(versus.test!.threshold));
  expect(Number(versus.canaryValue)).toBeGreaterThan(500);
  expect(j).toMatchObject({ action: 'hold', clean: false });
});

test('trigger: a decimal precision error fires its trigger at once and rolls back', async () => {
  const j = await evaluate('decimal');
  expect(triggerOf(j, 'decimal_precision_errors')).toMatchObject({ outcome: 'trigger', fired: true });
  expect(j).toMatchObject({ action: 'rollback', cause: 'decimal_precision_errors' });
});

test('no-data: missing canary metrics never pass, and a canary without series never passes against a failing stable', async () => {
  const j = await evaluate('missing');
  expect(signalOf(j, 'api_p95_latency').outcome).toBe('no-data');
  expect(signalOf(j, 'ws_staleness')).toMatchObject({ outcome: 'no-data', detail: 'no data (empty)' });
  // No request series is no requests: the comparison cannot pass, and the canary is not taking its share.
  expect(comparisonOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'insufficient-samples', canarySamples: 0 });
  expect(j.trafficShare).toMatchObject({ outcome: 'breach', canaryRequests: '0' });
  expect(j).toMatchObject({ clean: false, missingData: true, action: 'page-human', cause: 'traffic-share' });
});

test('insufficient-samples: one 5xx in ten requests of a 1% canary is not a breach', async () => {
  let memory = emptyMemory();
  const judgments: Judgment[] = [];
  for (let i = 0; i < 5; i++) {
    const j = await evaluate('lowvolume', { memory });
    memory = j.memory;
    judgments.push(j);
    await sleep(1000);
  }
  // ~10% (one failure in a window of ten requests), far above the 1% bound, at some point...
  expect(judgments.some((j) => Number(signalOf(j, 'error_rate_5xx').value) > 1)).toBe(true);
  // ...and never a breach, never a trigger, never a rollback.
  for (const j of judgments) {
    expect(signalOf(j, 'error_rate_5xx')).toMatchObject({ outcome: 'insufficient-samples' });
    expect(['pass', 'insufficient-samples']).toContain(triggerOf(j, 'error_rate_over_3pct').outcome);
    expect(j.action).not.toBe('rollback');
  }
});

test('insufficient-samples: a canary with no traffic is neither a breach nor missing data (0/0 is not a hole), and it pages', async () => {
  const j = await evaluate('idle');
  expect(signalOf(j, 'error_rate_5xx').outcome).toBe('insufficient-samples');
  expect(signalOf(j, 'api_p95_latency').outcome).toBe('insufficient-samples');
  expect(comparisonOf(j, 'api_p95_latency')).toMatchObject({ outcome: 'insufficient-samples', canarySamples: 0 });
  expect(j.reasons.filter((r) => !r.includes('insufficient samples') && !r.includes('not receiving its share'))).toEqual([]);
  expect(j).toMatchObject({ action: 'page-human', cause: 'traffic-share', missingData: false });
});

test('inconclusive: a baseline-relative signal without a baseline (or floor) holds, never passes', async () => {
  const signals = planFor('healthy').signals.map((s) => (s.id === 'csp_violations' ? { ...s, pass: { comparator: '<=' as const, value: '10', relativeTo: 'baseline' as const } } : s));
  const j = await evaluate('healthy', { signals, baseline: {} });
  expect(signalOf(j, 'csp_violations')).toMatchObject({ outcome: 'inconclusive', value: '0', detail: 'no baseline to compare with' });
  expect(j).toMatchObject({ action: 'hold', cause: 'csp_violations', clean: false });
});

test('query-error: a query Prometheus rejects is a query error, never a pass', async () => {
  const answer = await provider().instant('sum(rate(http_request_duration_seconds_count[10s])');
  expect(answer).toMatchObject({ kind: 'query-error', status: 400 });
  const plan = planFor('healthy');
  const j = judge({
    signals: plan.signals.filter((s) => s.id === 'ws_staleness'), triggers: [], results: { bad: answer }, queries: { ws_staleness: 'bad' },
    baseline: {}, memory: emptyMemory(), now: 0,
  });
  expect(signalOf(j, 'ws_staleness')).toMatchObject({ outcome: 'query-error', detail: expect.stringContaining('Prometheus rejected the query (HTTP 400)') });
  expect(j).toMatchObject({ clean: false, missingData: true });
});

test('query-error: a Prometheus outage holds and pages a human after the budget, never rolls back, and recovers', async () => {
  await prometheus.stop();
  let memory = emptyMemory();
  const during: Judgment[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const j = await evaluate('healthy', { memory, now: Date.now() + i * 60_000 });
      memory = j.memory;
      during.push(j);
    }
  } finally {
    await prometheus.start();
  }
  expect(during.every((j) => j.signals.every((s) => s.outcome === 'query-error'))).toBe(true);
  expect(signalOf(during[0]!, 'api_p95_latency').detail).toMatch(/Prometheus|ECONNREFUSED|fetch failed/);
  expect(during.map((j) => j.action)).toEqual(['continue', 'continue', 'page-human', 'page-human']);
  expect(during.every((j) => j.missingData && !j.clean)).toBe(true);
  // Back up: with the same memory, fresh answers let the stage judge again once the rate windows refill.
  let after: Judgment | undefined;
  for (let i = 0; i < 20 && !after?.clean; i++) {
    await sleep(1000);
    after = await evaluate('healthy', { memory });
  }
  expect(after!.signals.map((s) => `${s.id}:${s.outcome}`)).toEqual(after!.signals.map((s) => `${s.id}:pass`));
  expect(after!.memory.signals.api_p95_latency!.missingStreak).toBe(0);
  expect(after!.action).toBe('continue');
});
