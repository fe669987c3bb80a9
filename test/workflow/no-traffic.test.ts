// A canary that receives no requests, on the real Temporal dev server, Prometheus and
// demo target: the router command "succeeds" and reads back the weight it was given,
// without moving any traffic. The stage is held and paged (too few samples, then the
// canary's share), never promoted.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadWorkerConfig } from '../../src/config';
import { approveGo, startHarness, uniquePlan, waitForStatus, type Harness } from '../support/harness';

let h: Harness;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'no-traffic-'));

beforeAll(async () => {
  const config = loadWorkerConfig();
  // A router that records the weight it is told and reads it back, so the checklist and every
  // read-back agree, while the canary keeps 0% of the requests: only the traffic share can tell.
  const weightFile = path.join(dir, 'weight');
  fs.writeFileSync(weightFile, '0\n');
  const silent = { router: 'command' as const, command: `echo "$SPARK_CANARY_WEIGHT" > '${weightFile}'`, readCommand: `cat '${weightFile}'`, timeoutMs: 5_000 };
  h = await startHarness('no-traffic', { workerConfig: { ...config, routers: { ...config.routers, silent } } });
  await h.target.setWeight(0);
});

afterAll(async () => {
  await h?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a canary that gets no traffic is held and paged, never promoted, and rolled back when nobody answers', async () => {
  // The shipped default (hold and page), not the fixture's explicit proceed; one plan hour is 18 s here.
  const plan = { ...uniquePlan({ canary: { onInsufficientSamples: 'page-human', humanWaitLimit: '2h' } }), traffic: { router: 'command' as const, name: 'silent' } };
  const { release } = await h.client.start(plan, 'deniz');
  await approveGo(h.client, release);

  const paged = await waitForStatus(h.client, release, (s) => s.paged && s.stage?.index === 0);
  expect(paged.stage).toMatchObject({ index: 0, traffic: 1, state: 'holding' });
  // With enough requests flowing, the shortfall is significant: the reason says the canary is not receiving its share.
  const short = await waitForStatus(h.client, release, (s) => s.warroom.some((l) => l.includes('Stage 1 (1%)') && l.includes('Hold, paging a human')) && s.stages.length === 1, 60_000);
  expect(short.stages.map((s) => s.state)).toEqual(['holding']);
  const result = await h.client.result(release);
  expect(result.verdict).toBe('rolled-back');
  const status = await h.client.status(release);
  expect(status.stages).toHaveLength(1);
  expect(status.stages[0]!.state).toBe('rolled-back');
  expect(status.rollback?.reason).toMatch(/no human answered .* the canary is not receiving its share: canary 0% of requests \(0 of \d+ since the stage began\), planned 1%/);
  expect(status.warroom.some((l) => /Stage 2/.test(l))).toBe(false);
}, 240_000);
