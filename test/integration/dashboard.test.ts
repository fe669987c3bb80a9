// The Grafana dashboard against the real Prometheus: during a demo run (the demo
// target under load, a worker serving /metrics on the port Prometheus scrapes, a
// release that climbs to 25% and is rolled back by an error spike), every panel's
// query must return data.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, projectRoot } from '../../src/config';
import { approveGo, startHarness, uniquePlan, waitForStatus, type Harness } from '../support/harness';

interface Target { expr: string; refId: string }
interface Panel { id: number; type: string; title: string; targets?: Target[] }
interface Dashboard {
  refresh: string;
  templating: { list: { name: string; type: string; current: { value: string } }[] };
  panels: Panel[];
}

interface Sample { metric: Record<string, string>; value: [number, string] }

const config = loadConfig();
const dashboardFile = path.join(projectRoot, 'deploy', 'grafana', 'spark-trading.json');
const dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8')) as Dashboard;
const panels = dashboard.panels.filter((p) => p.type !== 'row');

/** Grafana's variables as Grafana would fill them: each template variable's default, 1m rate windows. */
function resolve(expr: string): string {
  let out = expr.replaceAll('$__rate_interval', '1m');
  for (const v of dashboard.templating.list) out = out.replaceAll(`\${${v.name}}`, v.current.value).replaceAll(`$${v.name}`, v.current.value);
  if (/\$\w/.test(out)) throw new Error(`unresolved variable in ${expr}`);
  return out;
}

async function query(expr: string): Promise<Sample[]> {
  const res = await fetch(`${config.prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

/** Samples with a number (NaN is what a quantile of nothing gives: no data). */
const withData = (samples: Sample[]) => samples.filter((s) => !Number.isNaN(Number(s.value[1])));

/** Panels (by title and refId) whose query returns no data right now. */
async function emptyPanels(): Promise<string[]> {
  const empty: string[] = [];
  for (const p of panels) {
    for (const t of p.targets ?? []) if (withData(await query(resolve(t.expr))).length === 0) empty.push(`${p.title} [${t.refId}]: ${resolve(t.expr)}`);
  }
  return empty;
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; last: ${JSON.stringify(last, null, 1)}`);
    await new Promise((r) => setTimeout(r, 1000));
    last = await read();
  }
  return last;
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness('dashboard', { workerMetricsPort: config.workerMetricsPort });
}, 15 * 60_000); // the harness may wait for another test's demo target to finish

afterAll(async () => {
  await h?.target.clearFault('canary');
  await h?.close();
});

test('the dashboard parses: a 30 s refresh, a default for every variable, a query on every panel', () => {
  expect(dashboard.refresh).toBe('30s');
  for (const v of dashboard.templating.list) expect(v.current.value).not.toBe('');
  expect(panels.length).toBeGreaterThanOrEqual(20);
  for (const p of panels) expect(p.targets?.length).toBeGreaterThan(0);
  const exprs = panels.flatMap((p) => p.targets!.map((t) => t.expr)).join('\n');
  // The seed's panels the demo exposes a metric for, and the pipeline's own.
  for (const metric of ['risk_blocks_total', 'idempotency_conflicts_total', 'db_pool_active_connections', 'http_request_duration_seconds_bucket',
    'csp_violations_total', 'outbox_lag_seconds', 'decimal_precision_errors_total', 'spark_release_releases', 'spark_release_stage_transitions_total',
    'spark_release_rollbacks_total', 'spark_release_gate_wait_seconds', 'spark_release_evaluation_duration_seconds', 'spark_release_metric_queries_total',
    'temporal_workflow_task_schedule_to_start_latency_bucket', 'temporal_activity_execution_latency_bucket', 'temporal_worker_task_slots_available']) {
    expect(exprs).toContain(metric);
  }
});

test('every panel returns data from the real Prometheus during a demo run', async () => {
  const plan = uniquePlan();
  const { release } = await h.client.start(plan, 'deniz');
  await approveGo(h.client, release);
  await waitForStatus(h.client, release, (s) => s.stage?.index === 1);

  // While the release is in canary, the worker counts it there (from visibility, the SparkPhase attribute).
  const phaseQuery = 'sum by (phase) (spark_release_releases)';
  await until('the worker reports a release in canary', () => query(`${phaseQuery} > 0`), (r) => r.some((s) => s.metric.phase === 'canary'));

  await waitForStatus(h.client, release, (s) => s.stage?.index === 2);
  await h.target.setFault('canary', { kind: 'error-rate', intensity: 0.5 });
  const result = await h.client.result(release);
  expect(result.verdict).toBe('rolled-back');
  const status = await h.client.status(release);

  const empty = await until('every panel returns data', emptyPanels, (e) => e.length === 0);
  expect(empty).toEqual([]);

  // The pipeline panels say what happened to this release.
  const rollbacks = await query(resolve(panels.find((p) => p.title === 'Rollbacks by trigger')!.targets![0]!.expr));
  expect(rollbacks.map((s) => s.metric.cause)).toContain(status.rollback!.cause);
  const stages = await query(resolve(panels.find((p) => p.title === 'Stage transitions')!.targets![0]!.expr));
  expect(stages.map((s) => s.metric.traffic)).toEqual(expect.arrayContaining(['1', '5', '25']));
  const gate = await query(resolve(panels.find((p) => p.title === 'Gate waiting time')!.targets![0]!.expr));
  expect(gate.map((s) => s.metric.outcome)).toContain('go');
});
