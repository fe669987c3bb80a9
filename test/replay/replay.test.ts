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

test('the committed histories cover a released, a rolled-back, an aborted and a NO-GO release', () => {
  expect(files).toEqual(expect.arrayContaining(['aborted.json', 'no-go.json', 'released-with-kill.json', 'rolled-back.json']));
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
