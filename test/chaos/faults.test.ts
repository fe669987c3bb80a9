// Dependency faults through Toxiproxy, between the worker and Prometheus, the
// evidence PostgreSQL (an instance of our own, so exhausting its connections
// hurts nobody) and the traffic router. What each fault must do (docs/reliability.md):
//   Prometheus 503 / 429 / packet loss: evaluations are query errors, never a pass;
//     the stage holds, pages after missingDataBudget, and goes on when data is back.
//   slow / exhausted / partitioned database: evidence waits (kept in the workflow),
//     nothing is lost, a failed page is recorded as such and the release goes on.
//   router partition at a stage change: the stage does not move; the release rolls
//     back, and traffic is at 0% as soon as the router answers, whatever the database does.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { loadConfig } from '../../src/config';
import type { ReleaseStatus } from '../../src/workflows/messages';
import { approveGo, waitForStatus } from '../support/harness';
import { CRASH_PLAN_OVERRIDES, startChaosEnv, type ChaosEnv } from './support/chaos-env';
import { collectFacts } from './support/facts';
import { checkRelease } from './support/invariants';
import { startOwnPostgres, type OwnPostgres } from './support/own-postgres';
import { startStatusResponder, startToxiproxy, type Toxiproxy } from './support/toxiproxy';
import type { WorkerProcess } from './support/worker-process';

const depsDir = path.join(loadConfig().runDir, 'chaos', 'ci-faults-deps');
let pg: OwnPostgres;
let toxi: Toxiproxy;
let env: ChaosEnv;
let worker: WorkerProcess;

beforeAll(async () => {
  fs.rmSync(depsDir, { recursive: true, force: true });
  fs.mkdirSync(depsDir, { recursive: true });
  // Small on purpose: the pool-exhaustion fault takes every connection.
  pg = await startOwnPostgres(path.join(depsDir, 'pg'), 'max_connections = 20\nsuperuser_reserved_connections = 0');
  toxi = await startToxiproxy(path.join(depsDir, 'toxiproxy.log'));
  env = await startChaosEnv({
    name: 'ci-faults',
    databaseUrl: pg.url,
    routes: async (direct) => {
      const hostOf = (url: string) => new URL(url).host;
      const db = await toxi.proxy('postgres', `127.0.0.1:${pg.port}`);
      const prometheus = await toxi.proxy('prometheus', hostOf(direct.prometheusUrl));
      const router = await toxi.proxy('router', hostOf(direct.routerAdminUrl));
      return {
        databaseUrl: pg.url.replace(`127.0.0.1:${pg.port}`, db.listen),
        prometheusUrl: `http://${prometheus.listen}`,
        routerAdminUrl: `http://${router.listen}`,
      };
    },
  });
  worker = await env.startWorker();
}, 300_000);

afterAll(async () => {
  await worker?.kill();
  await env?.close();
  await toxi?.close();
  pg?.stop();
  fs.rmSync(depsDir, { recursive: true, force: true });
});

afterEach(() => toxi.reset());

interface Window {
  fault: string;
  from: number;
  to: number;
}

interface Measurement {
  stage: number;
  at: number;
  clean: boolean;
  outcomes: string[];
  details: string[];
}

async function startRelease(overrides: Record<string, unknown>) {
  await env.target.clearFault('canary');
  await env.target.setWeight(0);
  await sleep(2000);
  const window = { weightsFrom: env.recorder.history.length, startedAt: Date.now(), resultTimeoutMs: 300_000 };
  const { release } = await env.client.start(env.plan({ ...CRASH_PLAN_OVERRIDES, ...overrides }), 'deniz');
  await approveGo(env.client, release, 'chaos: GO');
  return { release, window };
}

const inStage = (index: number) => (s: ReleaseStatus) => s.phase === 'canary' && s.stage?.index === index;

/** Resolves when the ledger (read directly, not through the proxy) holds KEY. */
async function recorded(release: string, key: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await env.db.query('SELECT 1 FROM evidence WHERE release = $1 AND key = $2', [release, key])).rowCount) return;
    await sleep(10);
  }
  throw new Error(`${key} not recorded within ${timeoutMs} ms`);
}

async function during(fault: string, ms: number, apply: () => Promise<unknown>, clear: () => Promise<unknown>): Promise<Window> {
  await apply();
  const from = Date.now();
  await sleep(ms);
  await clear();
  return { fault, from, to: Date.now() };
}

/** Opens connections until the server refuses; returns them (close them to end the fault). */
async function exhaustConnections(): Promise<{ clients: Client[]; refusal: string }> {
  const clients: Client[] = [];
  for (;;) {
    const c = new Client({ connectionString: pg.url });
    try {
      await c.connect();
      clients.push(c);
    } catch (err) {
      return { clients, refusal: (err as Error).message };
    }
  }
}

function measurementsOf(evidence: { key: string; body: string }[]): Measurement[] {
  return evidence.filter((r) => /^stage\/\d+\/measurements\/\d+$/.test(r.key)).map((r) => {
    const body = JSON.parse(r.body) as { at: string; clean: boolean; signals: { outcome: string; detail: string }[] };
    return {
      stage: Number(r.key.split('/')[1]),
      at: Date.parse(body.at),
      clean: body.clean,
      outcomes: body.signals.map((s) => s.outcome),
      details: body.signals.map((s) => s.detail),
    };
  });
}

test('Prometheus 503 and 429, a database gone at the page, slow and exhausted, packet loss: holds and pages, never promotes on missing data, loses nothing, releases', async () => {
  const { release, window } = await startRelease({ canary: { humanWaitLimit: '4h' } });
  const windows: Window[] = [];

  // Stage 1: Prometheus answers 503; the database goes away just when the page is due.
  await waitForStatus(env.client, release, inStage(0), 120_000);
  const r503 = await startStatusResponder(503);
  const databaseGone = (async () => {
    await recorded(release, 'stage/1/measurements/2');
    return during('database partition at the page', 25_000, () => toxi.setEnabled('postgres', false), () => toxi.setEnabled('postgres', true));
  })();
  windows.push(await during('Prometheus 503', 8000, () => toxi.setUpstream('prometheus', r503.address), () => toxi.setUpstream('prometheus', new URL(env.prometheus.url).host)));
  windows.push(await databaseGone);
  await r503.close();

  // Stage 2: Prometheus rate-limits.
  await waitForStatus(env.client, release, inStage(1), 180_000);
  const r429 = await startStatusResponder(429);
  windows.push(await during('Prometheus 429', 6000, () => toxi.setUpstream('prometheus', r429.address), () => toxi.setUpstream('prometheus', new URL(env.prometheus.url).host)));
  expect(r429.answered).toBeGreaterThan(0);
  await r429.close();

  // Stage 3: every database round trip takes a second.
  await waitForStatus(env.client, release, inStage(2), 180_000);
  windows.push(await during('slow database', 8000,
    () => Promise.all(['upstream', 'downstream'].map((stream) => toxi.addToxic('postgres', `slow-${stream}`, { type: 'latency', stream: stream as 'upstream', attributes: { latency: 1000 } }))),
    () => Promise.all(['upstream', 'downstream'].map((stream) => toxi.removeToxic('postgres', `slow-${stream}`)))));

  // Stage 4: packet loss on the Prometheus link: delays with jitter, a third of connections reset.
  await waitForStatus(env.client, release, inStage(3), 180_000);
  windows.push(await during('Prometheus packet loss', 8000,
    async () => {
      await toxi.addToxic('prometheus', 'jitter', { type: 'latency', attributes: { latency: 200, jitter: 200 } });
      await toxi.addToxic('prometheus', 'loss', { type: 'reset_peer', toxicity: 0.3, attributes: { timeout: 0 } });
    },
    async () => {
      await toxi.removeToxic('prometheus', 'jitter');
      await toxi.removeToxic('prometheus', 'loss');
    }));

  // Stage 5: the database has no connection left; the worker's pooled ones are cut.
  await waitForStatus(env.client, release, inStage(4), 180_000);
  let hog: { clients: Client[]; refusal: string } = { clients: [], refusal: '' };
  windows.push(await during('connection-pool exhaustion', 10_000,
    async () => {
      hog = await exhaustConnections();
      await toxi.setEnabled('postgres', false);
      await toxi.setEnabled('postgres', true);
    },
    () => Promise.all(hog.clients.map((c) => c.end()))));
  expect(hog.refusal).toMatch(/too many clients/);

  const facts = await collectFacts(env, release, window);
  expect(checkRelease(facts)).toEqual([]);
  expect(facts.result?.verdict).toBe('released');

  const ms = measurementsOf(facts.evidence);
  const inside = (w: Window) => ms.filter((m) => m.at > w.from + 1500 && m.at < w.to);
  for (const fault of ['Prometheus 503', 'Prometheus 429']) {
    const w = windows.find((x) => x.fault === fault)!;
    const seen = inside(w);
    expect(seen.length).toBeGreaterThan(0);
    for (const m of seen) {
      expect(m.clean).toBe(false);
      expect(m.outcomes.every((o) => o === 'query-error')).toBe(true);
    }
    // Never promoted while the data was missing.
    expect(facts.weights.filter((c) => c.at > w.from + 1500 && c.at < w.to)).toEqual([]);
  }
  expect(inside(windows.find((x) => x.fault === 'Prometheus 503')!).some((m) => m.details.some((t) => t.includes('HTTP 503')))).toBe(true);
  // The page of stage 1 is in the evidence: delivered-or-not from the activity, or the record that it failed.
  expect(facts.evidence.some((r) => r.key.startsWith('page/stage/1/'))).toBe(true);
});

test('a router partition at a stage change rolls back; traffic is at 0% as soon as the router answers, before the database is back', async () => {
  const { release, window } = await startRelease({ canary: { humanWaitLimit: '4h' } });
  // Stage 1 has its 1% (the status shows a stage as soon as it is entered, the weight once the router took it).
  await waitForStatus(env.client, release, (s) => inStage(0)(s) && s.canaryWeight === 1, 180_000);
  await toxi.setEnabled('router', false);
  const routerDownAt = Date.now();
  // The next stage change cannot reach the router: the release must decide to roll back.
  const rolling = await waitForStatus(env.client, release, (s) => s.rollback !== null, 120_000);
  // Stage 2 was entered but never took traffic: it ends as rolled back, by the router.
  expect({ stages: rolling.stages.map((s) => [s.traffic, s.state]), rollback: rolling.rollback }).toMatchObject({
    stages: [[1, 'passed'], [5, 'rolled-back']],
    rollback: { cause: 'router', fromTraffic: 1 },
  });
  await toxi.setEnabled('postgres', false);
  await sleep(Math.max(0, routerDownAt + 25_000 - Date.now()));
  await toxi.setEnabled('router', true);
  const routerBackAt = Date.now();
  await sleep(15_000);
  await toxi.setEnabled('postgres', true);
  const databaseBackAt = Date.now();

  const facts = await collectFacts(env, release, window);
  expect(checkRelease(facts)).toEqual([]);
  expect(facts.result?.verdict).toBe('rolled-back');
  expect(facts.weights.map((c) => c.current)).not.toContain(5);
  const zero = facts.weights.find((c) => c.current === 0);
  expect(zero).toBeDefined();
  expect(zero!.at).toBeGreaterThanOrEqual(routerBackAt);
  expect(zero!.at).toBeLessThan(databaseBackAt);
});
