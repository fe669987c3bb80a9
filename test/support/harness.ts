// Real components for workflow tests: the demo target (stable, canary, router
// as child processes, scraped by the real Prometheus), a worker on its own task
// queue against the real Temporal dev server, and the evidence ledger in the
// real PostgreSQL. `bash scripts/services.sh up` must have started them.
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';
import { loadConfig, type WorkerConfig } from '../../src/config';
import { loadPlanFileWith } from '../../src/plan/loader';
import type { ReleasePlan } from '../../src/plan/schema';
import { ReleaseClient } from '../../src/release-client';
import { createReleaseWorker, type ReleaseWorker } from '../../src/worker';
import { installWorkerRuntime } from '../../src/metrics/runtime';
import type { ReleaseStatus } from '../../src/workflows/messages';
import { startDemoTarget, type DemoTarget } from '../../demo/target';
import { startNtpServer, type NtpServer } from '../../demo/ntp';
import { startFakeGitHub, type FakeGitHub } from '../../demo/fake-github';
import { scmFromEnv } from '../../src/adapters/scm';

let ntp: NtpServer | undefined;

export const TEST_PLAN = path.join(__dirname, '..', 'fixtures', 'plans', 'workflow-test.yaml');

let bundle: WorkflowBundle | undefined;
let runtimeInstalled = false;

export async function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('WARN') });
  return bundle;
}

export interface Harness {
  target: DemoTarget;
  client: ReleaseClient;
  taskQueue: string;
  /** The GitHub stand-in the freeze labels (the test's own, or one the harness started with 3 open pull requests). */
  github: FakeGitHub;
  close(): Promise<void>;
}

export interface HarnessOptions {
  workerMetricsPort?: number;
  workerConfig?: WorkerConfig;
  /** A GitHub stand-in the test drives itself; its token must be GITHUB_TOKEN_FOR_TESTS. */
  github?: FakeGitHub;
  /** A git repository for the release tag (unset: no tag is made). */
  gitRepo?: string;
}

export const GITHUB_TOKEN_FOR_TESTS = 'test-token';

/**
 * Waits until Prometheus holds a rate window of the new target's stable traffic: right after the
 * target (or Prometheus) starts, the baseline and the signal queries have no series, and the
 * GO checks rightly fail on that.
 */
async function targetScraped(prometheusUrl: string, window: string, timeoutMs = 60_000): Promise<void> {
  const query = `sum(increase(http_request_duration_seconds_count{service="spark-trading",track="stable"}[${window}])) > 0 and sum(increase(idempotency_requests_total{service="spark-trading",track="stable"}[${window}])) > 0`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { data?: { result?: unknown[] } };
      if ((body.data?.result?.length ?? 0) > 0) return;
    } catch {
      // not answering yet: try again
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`Prometheus at ${prometheusUrl} holds no ${window} of the demo target's stable traffic after ${timeoutMs / 1000} s: is it scraping the demo ports (scripts/services.sh)?`);
}

async function reachable(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/** All traffic back on stable, and a rate window of it in Prometheus (the baseline reads stable). */
export async function stableServing(h: Harness): Promise<void> {
  await h.target.setWeight(0);
  await new Promise((r) => setTimeout(r, 10_000)); // a rate window without the canary's share
  await targetScraped(loadConfig().prometheusUrl, '10s');
}

export async function startHarness(name: string, opts: HarnessOptions = {}): Promise<Harness> {
  const config = loadConfig();
  if (!(await reachable(`${config.prometheusUrl}/-/ready`))) {
    throw new Error(`Prometheus not reachable at ${config.prometheusUrl}: run \`bash scripts/services.sh up\``);
  }
  if (!runtimeInstalled) {
    installWorkerRuntime(new DefaultLogger('WARN'));
    runtimeInstalled = true;
  }
  const taskQueue = `test-${name}-${process.pid}-${Date.now()}`;
  // Realistic background 5xx (0.1%, the target's default): the judgment's samples rule keeps it from failing a 1% canary.
  ntp ??= await startNtpServer();
  // Through pgBouncer when scripts/env.sh is sourced (npm test does), as the checks expect.
  const target = await startDemoTarget({ load: { rps: 100 }, databaseUrl: process.env.SPARK_TARGET_DATABASE_URL });
  try {
    await targetScraped(config.prometheusUrl, '10s');
  } catch (err) {
    await target.stop();
    throw err;
  }
  // The freeze holds real pull requests, so the checklist's "change freeze in effect" can be true.
  const github = opts.github ?? (await startFakeGitHub({ repository: 'acme/spark', token: GITHUB_TOKEN_FOR_TESTS }));
  if (!opts.github) for (const number of [101, 102, 103]) github.add({ number, title: `PR ${number}`, pullRequest: true });
  const scm = scmFromEnv({ GITHUB_API_URL: github.url, GITHUB_REPOSITORY: github.repository, GITHUB_TOKEN: GITHUB_TOKEN_FOR_TESTS, ...(opts.gitRepo ? { SPARK_GIT_REPO: opts.gitRepo } : {}) });
  let worker: ReleaseWorker | undefined;
  let client: ReleaseClient | undefined;
  const dropKey = ensureSigningKey();
  const stopOwn = async () => {
    dropKey();
    await target.stop();
    if (!opts.github) await github.close();
  };
  try {
    client = await ReleaseClient.connect(taskQueue);
    worker = await createReleaseWorker({ taskQueue, workflowBundle: await workflowBundle(), metricsPort: opts.workerMetricsPort ?? null, workerConfig: opts.workerConfig, scm });
  } catch (err) {
    await stopOwn();
    await client?.close();
    throw err;
  }
  const running = worker.run();
  return {
    target,
    client,
    taskQueue,
    github,
    async close() {
      worker!.shutdown();
      await running;
      await client!.close();
      await stopOwn();
      await ntp?.stop();
      ntp = undefined;
    },
  };
}

/** Writes a throwaway Ed25519 signing key (PEM) into `dir`; a worker's SPARK_SIGNING_KEY names it. */
export function writeSigningKey(dir: string): string {
  const file = path.join(dir, 'signing-key.pem');
  fs.writeFileSync(file, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return file;
}

/**
 * A worker holds the release's signing key (the green button signs the SBOM with it).
 * Without one in SPARK_SIGNING_KEY the harness makes a throwaway key for its own life.
 */
function ensureSigningKey(): () => void {
  if (process.env.SPARK_SIGNING_KEY) return () => {};
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-key-'));
  process.env.SPARK_SIGNING_KEY = writeSigningKey(dir);
  return () => {
    delete process.env.SPARK_SIGNING_KEY;
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

let counter = 0;
/** The test plan with a version no other run has used (a version is released once). */
export function uniquePlan(overrides: Record<string, unknown> = {}): ReleasePlan {
  counter += 1;
  return loadPlanFileWith(TEST_PLAN, {
    version: `v1.4.0-test.${Date.now()}.${process.pid}.${counter}`,
    ...(ntp ? { target: { ntpServer: ntp.url } } : {}),
    ...overrides,
  });
}

/** Polls the status query until `predicate` holds; fails with the last status after `timeoutMs`. */
export async function waitForStatus(
  client: ReleaseClient,
  release: string,
  predicate: (s: ReleaseStatus) => boolean,
  timeoutMs = 120_000,
): Promise<ReleaseStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ReleaseStatus | undefined;
  while (Date.now() < deadline) {
    last = await client.status(release);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`status of ${release} did not reach the expected state within ${timeoutMs} ms; last: phase ${last?.phase}, verdict ${last?.verdict}, stage ${last?.stage?.index}`);
}

/**
 * The GO gate as a release team reaches it: elif answers the red team's open items until the
 * gate opens. A checklist below 10/10 fails the test, naming each unmet item (tests about the
 * override call `decide` with it themselves).
 */
export async function openGoWithFullChecklist(client: ReleaseClient, release: string, timeoutMs = 120_000): Promise<ReleaseStatus> {
  return openGoAllowing(client, release, [], timeoutMs);
}

/** The gate opened as above, where only the checklist items named in `allowed` (item titles) may be unmet. */
async function openGoAllowing(client: ReleaseClient, release: string, allowed: string[], timeoutMs = 120_000): Promise<ReleaseStatus> {
  const deadline = Date.now() + timeoutMs;
  let status = await client.status(release);
  while (status.gates.go.state === 'pending' && status.verdict === 'running' && Date.now() < deadline) {
    for (const item of status.redTeamGate?.state === 'open' ? status.redTeamGate.items.filter((i) => i.state === 'open') : []) {
      await client.confirmRedTeamItem({ release, item: item.id, by: 'elif', confirmed: true, note: `test: confirmed by the harness, nothing was checked by hand (${item.text})` });
    }
    await new Promise((r) => setTimeout(r, 250));
    status = await client.status(release);
  }
  if (status.gates.go.state !== 'open') throw new Error(`GO gate of ${release} is ${status.gates.go.state} (phase ${status.phase}, verdict ${status.verdict}), not open`);
  const unmet = status.gates.go.checklist.filter((i) => !i.ok && !allowed.includes(i.item));
  if (unmet.length > 0) throw new Error(`GO checklist of ${release} is not 10/10: ${unmet.map((i) => `${i.item} (${i.detail})`).join('; ')}`);
  return status;
}

/**
 * GO with an override for exactly the checklist items a test's own plan cannot meet, with the
 * reason why; any other unmet item still fails the test.
 */
export async function approveGoOverriding(client: ReleaseClient, release: string, allowed: string[], reason: string): Promise<void> {
  const status = await openGoAllowing(client, release, allowed);
  expect(status.gates.go.checklist.filter((i) => !i.ok).map((i) => i.item)).toEqual(allowed);
  await client.decide({ release, gate: 'go', decision: 'go', approver: 'bora', reason, override: true });
}

/** GO from bora, with no override, once the gate is open with a full checklist. */
export async function approveGo(client: ReleaseClient, release: string, reason = 'test: checklist 10/10'): Promise<void> {
  await openGoWithFullChecklist(client, release);
  await client.decide({ release, gate: 'go', decision: 'go', approver: 'bora', reason });
}
