// The always-on part of the crash test (the 50-kill run is bench/crash.ts): a
// release whose worker is SIGKILLed at three points; two workers on one task
// queue with one killed mid-canary; the Temporal server (its data kept) restarted
// mid-canary. Each release must keep every invariant of support/invariants.ts.
// Everything runs on its own ports (own Temporal server, the dev server or with
// SPARK_CHAOS_TEMPORAL=postgres the PostgreSQL-backed one; demo target, Prometheus),
// so the shared services of scripts/services.sh are never touched.
import { setTimeout as sleep } from 'node:timers/promises';
import { temporal } from '@temporalio/proto';
import { seededRandom } from '../../demo/prng';
import { approveGo, waitForStatus } from '../support/harness';
import { CRASH_PLAN_OVERRIDES, startChaosEnv, type ChaosEnv } from './support/chaos-env';
import { CrashDriver } from './support/crash-driver';
import { collectFacts } from './support/facts';
import { checkRelease } from './support/invariants';

let env: ChaosEnv;

beforeAll(async () => {
  env = await startChaosEnv({ name: 'ci-crash' });
}, 240_000);

afterAll(async () => {
  await env?.close();
});

test('killed at three points (timer wait, canary, first night), the release carries on and keeps every invariant', async () => {
  const driver = new CrashDriver(env, { random: seededRandom(8), maxDownMs: 500 });
  await driver.start();
  try {
    const run = await driver.run({
      name: 'three kills',
      expected: 'released',
      targets: [
        { trigger: { on: 'idle', phase: 'war-room' } },
        { trigger: { on: 'idle', phase: 'canary', stage: 2 } },
        { trigger: { on: 'idle', phase: 'first-night' } },
      ],
    });
    expect(run.missed).toEqual([]);
    expect(run.kills.map((k) => k.phase)).toEqual(['war-room', 'canary', 'first-night']);
    expect(run.violations).toEqual([]);
    expect(run.verdict).toBe('released');
    // Each kill was followed by progress: a completed workflow task of the restarted worker.
    for (const k of run.kills) expect(k.recoveryMs).not.toBeNull();
  } finally {
    await driver.close();
  }
});

test('two workers on one queue: one killed mid-canary, then the server restarted mid-canary; the other worker carries the release', async () => {
  await env.target.clearFault('canary');
  await env.target.setWeight(0);
  await sleep(2000);
  const weightsFrom = env.recorder.history.length;
  const startedAt = Date.now();
  const a = await env.startWorker('two-a');
  const b = await env.startWorker('two-b');
  try {
    const { release } = await env.client.start(env.plan(CRASH_PLAN_OVERRIDES), 'deniz');
    await approveGo(env.client, release, 'chaos: GO');

    await waitForStatus(env.client, release, (s) => s.phase === 'canary' && s.stage?.index === 1, 120_000);
    await a.kill();
    const killedAt = Date.now();

    await waitForStatus(env.client, release, (s) => s.phase === 'canary' && s.stage?.index === 3, 180_000);
    const stage = (await env.client.status(release)).stage!;
    await env.temporal.stop();
    const restartedAt = Date.now();
    await env.temporal.start();
    await env.reconnect();

    const facts = await collectFacts(env, release, { weightsFrom, startedAt, resultTimeoutMs: 300_000 });
    expect(checkRelease(facts)).toEqual([]);
    expect(facts.result?.verdict).toBe('released');
    // The stage that ran when the server went down finished, and every stage after it ran.
    expect(facts.status!.stages.slice(stage.index).map((s) => s.state)).toEqual(Array(5 - stage.index).fill('passed'));

    // After the kill every workflow task ran on b; b also worked after the server came back.
    const { EventType } = temporal.api.enums.v1;
    const started = facts.history.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
    const at = (e: temporal.api.history.v1.IHistoryEvent) => Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);
    const afterKill = started.filter((e) => at(e) > killedAt + 1000);
    expect(afterKill.length).toBeGreaterThan(0);
    expect(new Set(afterKill.map((e) => e.workflowTaskStartedEventAttributes?.identity?.split('@')[0]))).toEqual(new Set([String(b.pid)]));
    expect(started.some((e) => at(e) > restartedAt)).toBe(true);
  } finally {
    await a.kill();
    await b.stop();
  }
});
