// Determinism: histories recorded from real runs (bench/record-histories.ts) are
// replayed against the current workflow bundle. A change to workflow code that
// would make a running release take another path fails here; guard it with
// patched() (docs/reliability.md, "Changing workflow code"). Needs no services.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../support/harness';
import { historyFromCliJson } from './history-json';

const dir = path.join(__dirname, 'histories');
const workflowIds = JSON.parse(fs.readFileSync(path.join(dir, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
const files = Object.keys(workflowIds).sort();

const RECORDED = ['aborted.json', 'no-go.json', 'released-with-kill.json', 'rolled-back.json', 'released-first-night.json'];

/** The raw events of a committed history (the CLI's JSON). */
const eventsOf = (file: string) => (JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { events: Record<string, unknown>[] }).events;
const activityTypes = (file: string) => new Set(eventsOf(file).map((e) => (e.activityTaskScheduledEventAttributes as { activityType?: { name: string } } | undefined)?.activityType?.name).filter(Boolean));

test('the committed histories cover every path: released (worker killed), rolled back, aborted, NO-GO, first night continued as new, and the shapes before sequential tests and before anchors', () => {
  expect(files).toEqual(expect.arrayContaining([
    ...RECORDED, ...RECORDED.map((f) => `before-sequential-${f}`), ...RECORDED.slice(0, 4).map((f) => `before-anchors-${f}`),
  ]));
  // Before the sequential tests a release compared the canary with stable on range queries; now on the counts.
  expect(activityTypes('before-sequential-released-with-kill.json').has('queryRanges')).toBe(true);
  expect(activityTypes('released-with-kill.json').has('queryRanges')).toBe(false);
  expect(activityTypes('released-with-kill.json').has('evaluate')).toBe(true);
  // The rollback ran the traffic-first rollback.
  expect(activityTypes('rolled-back.json').has('rollbackTraffic')).toBe(true);
  expect(activityTypes('released-with-kill.json').has('anchorLedger')).toBe(true);
  // The first night's child ran more than once: its first run ended in continue-as-new.
  const children = files.filter((f) => f.startsWith('released-first-night-child-'));
  expect(children.length).toBeGreaterThanOrEqual(2);
  expect(eventsOf(children.sort()[0]!).some((e) => e.workflowExecutionContinuedAsNewEventAttributes !== undefined)).toBe(true);
  // The worker kill left a workflow task that timed out.
  expect(eventsOf('released-with-kill.json').some((e) => e.workflowTaskTimedOutEventAttributes !== undefined)).toBe(true);
});

test('every committed history replays against the current workflow code', async () => {
  const histories = files.map((file) => ({ workflowId: workflowIds[file]!, history: historyFromCliJson(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))) }));
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    replayed += 1;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message.slice(0, 600)}`);
  }
  expect(failures).toEqual([]);
  expect(replayed).toBe(files.length);
});
