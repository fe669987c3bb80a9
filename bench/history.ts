// Events and bytes of one full run-of-show, people answering at once: the red-team
// items are confirmed and GO is given (by override: some checks cannot pass on this
// machine) at the first look after they open. Real activities against the local
// services (PostgreSQL ledger, Prometheus, the demo target); the router is
// record-only (the history holds the same setCanaryWeight activities whichever
// router runs them), so a run may borrow a demo target another bench holds
// (--shared-target). Goal (issue 9): every run under 2,048 events, half of the
// server's continue-as-new suggestion (4,096), with the evaluations still visible.
//
// Default: the shipped plan (plans/v1.4.0.yaml, T-30 min to T+24 h) under Temporal's
// time-skipping test server, WITHOUT the canary-versus-stable comparison: its range
// queries span the workflow's clock, which time skipping puts hours ahead of
// Prometheus', so they find no data and the stage pages instead of proceeding.
// --compressed: plans/demo.yaml (one plan minute per second, one scaled hour of
// first night) on the dev server of scripts/services.sh, comparison included.
//
//   bash scripts/services.sh up && source scripts/env.sh && npx tsx bench/history.ts [--compressed] [--shared-target]
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { loadConfig, projectRoot } from '../src/config';
import { mergePlanDocs } from '../src/plan/loader';
import { parsePlan } from '../src/plan/schema';
import { ReleaseClient } from '../src/release-client';
import { createReleaseWorker } from '../src/worker';
import { confirmRedTeamItemUpdate } from '../src/workflows/messages';
import { startDemoTarget } from '../demo/target';
import { workflowBundle } from '../test/support/harness';

const GOAL_EVENTS = 2048;
/** Skipped time between two looks at the release while it waits for people. */
const LOOK_EVERY = '10s';

type History = temporal.api.history.v1.IHistory;

function describeRun(label: string, history: History): { line: string; events: number } {
  const events = history.events ?? [];
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  const activities = new Map<string, number>();
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) activities.set(name, (activities.get(name) ?? 0) + 1);
  }
  const timers = events.filter((e) => e.timerStartedEventAttributes).length;
  const top = [...activities].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ');
  return {
    events: events.length,
    line: `| ${label} | ${events.length} | ${(bytes / 1024).toFixed(0)} KiB | ${timers} | ${top} | ${events.length < GOAL_EVENTS ? 'yes' : 'NO'} |`,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'shared-target': { type: 'boolean', default: false }, compressed: { type: 'boolean', default: false } } });
  const config = loadConfig();
  const env = values.compressed
    ? await TestWorkflowEnvironment.createFromExistingServer({ address: config.temporalAddress })
    : await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: path.join(config.toolsBin, 'temporal-test-server') } },
    });
  // createReleaseWorker connects by Temporal's own settings: point them at the server of this run.
  process.env.TEMPORAL_ADDRESS = env.address;
  const taskQueue = `bench-history-${process.pid}`;
  // Without --shared-target, the machine-wide demo target (waits while another run holds it).
  const target = values['shared-target'] ? null : await startDemoTarget({ load: { rps: 100 }, databaseUrl: process.env.SPARK_TARGET_DATABASE_URL });
  const worker = await createReleaseWorker({ taskQueue, workflowBundle: await workflowBundle(), metricsPort: null });
  const running = worker.run();
  try {
    const client = new ReleaseClient(env.client, taskQueue);
    const planFile = path.join(projectRoot, 'plans', values.compressed ? 'demo.yaml' : 'v1.4.0.yaml');
    // The raw documents (demo.yaml extends the shipped one), so the router can be replaced, not merged.
    const shipped = YAML.parse(fs.readFileSync(path.join(projectRoot, 'plans', 'v1.4.0.yaml'), 'utf8')) as Record<string, unknown>;
    const { extends: _extends, ...compressed } = YAML.parse(fs.readFileSync(path.join(projectRoot, 'plans', 'demo.yaml'), 'utf8')) as Record<string, unknown>;
    const doc = mergePlanDocs(shipped, { ...(values.compressed ? compressed : {}), version: `v1.4.0-history.${Date.now()}` }) as Record<string, unknown>;
    doc.traffic = { router: 'record-only' };
    if (!values.compressed) {
      delete (doc.canary as Record<string, unknown>).versusStable;
      doc.signals = (doc.signals as Record<string, unknown>[]).map(({ versusStable: _v, ...signal }) => signal);
    }
    const plan = parsePlan(doc, planFile);
    const { release, runId } = await client.start(plan, 'deniz');
    const handle = env.client.workflow.getHandle(release);
    for (;;) {
      const s = await client.status(release);
      if (s.phase === 'canary' || s.verdict !== 'running') break;
      for (const item of s.redTeamGate?.state === 'open' ? s.redTeamGate.items.filter((i) => i.state === 'open') : []) {
        await handle.executeUpdate(confirmRedTeamItemUpdate, { args: [{ release, runId, item: item.id, by: 'elif', confirmed: true, note: 'history bench' }] });
      }
      if (s.gates.go.state === 'open') await client.decide({ release, gate: 'go', decision: 'go', approver: 'bora', reason: 'history bench', override: true });
      else if (values.compressed) await sleep(250);
      else await env.sleep(LOOK_EVERY);
    }
    const result = await handle.result();
    console.log(`${release}: ${result.verdict} (${result.reason})`);

    const rows = ['| run | events | bytes | timers | activities scheduled | under 2,048 |', '|---|---|---|---|---|---|'];
    const parent = await handle.fetchHistory();
    rows.push(describeRun('release workflow', parent).line);
    // The first-night child: follow its runs along continue-as-new.
    const child = parent.events?.find((e) => e.childWorkflowExecutionStartedEventAttributes)?.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    let childRun = child?.runId ?? null;
    for (let i = 1; child && childRun; i++) {
      const history = await env.client.workflow.getHandle(child.workflowId!, childRun).fetchHistory();
      rows.push(describeRun(`first-night run ${i}`, history).line);
      childRun = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? null;
    }
    console.log(rows.join('\n'));
  } finally {
    worker.shutdown();
    await running;
    await target?.stop();
    await env.teardown();
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(`history bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
