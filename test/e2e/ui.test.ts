// The Temporal Web UI in a real browser (Debian's Chromium driven by
// playwright-core): a release engineer filters releases by their search
// attributes, finds a running release by its phase, opens it and reads its stage
// table in the current details. Saves the screenshot docs/inspection.md shows.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { loadConfig, projectRoot } from '../../src/config';
import { approveGo, startHarness, uniquePlan, waitForStatus, type Harness } from '../support/harness';

const config = loadConfig();
const namespace = config.temporalNamespace;
const CHROMIUM = process.env.SPARK_CHROMIUM ?? (fs.existsSync(path.join(config.toolsBin, 'chromium')) ? path.join(config.toolsBin, 'chromium') : '/usr/bin/chromium');
// SPARK_UPDATE_SCREENSHOTS=1 refreshes the committed screenshot; otherwise it goes under .run/.
const SCREENSHOT_DIR = process.env.SPARK_UPDATE_SCREENSHOTS ? path.join(projectRoot, 'docs', 'screenshots') : path.join(config.runDir, 'screenshots');

let h: Harness;
/** The release under test, terminated after a failure so it does not stay "running" without a worker. */
let current: string | undefined;
let browser: BrowserContext;
let page: Page;

beforeAll(async () => {
  h = await startHarness('ui');
  // As root, Chromium needs --no-sandbox; a fresh profile and no background traffic keep runs alike.
  browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'spark-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 1100 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage();
}, 15 * 60_000); // the harness may wait for another test's demo target to finish

afterAll(async () => {
  if (current) {
    const { handle, description } = await h.client.handle(current);
    if (description.status.name === 'RUNNING') await handle.terminate('ui test ended before the release did');
  }
  await browser?.close();
  await h?.close();
});

/** The UI renders markdown in sandboxed frames; the current details are the one with the stage table. */
async function currentDetails(p: Page): Promise<Frame> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const frame of p.frames()) {
      if ((await frame.locator('body').innerText().catch(() => '')).includes('signals passed')) return frame;
    }
    await p.waitForTimeout(250);
  }
  throw new Error('no frame with the stage table (Current Details) within 30 s');
}

const listUrl = (query: string) => `${config.temporalUiUrl}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`;

test('a release engineer finds a running release by its phase and reads its stage table', async () => {
  // Stage 2 lasts long enough (3 minutes at the test plan's time scale) for the browser to look at it.
  const plan = uniquePlan({ canary: { stages: [{ traffic: 1, duration: '15m' }, { traffic: 5, duration: '10h' }, { traffic: 100, duration: '15m' }] } });
  const started = await h.client.start(plan, 'deniz');
  const { release } = started;
  current = release;
  expect(started.missingSearchAttributes).toEqual([]);
  await approveGo(h.client, release);
  await waitForStatus(h.client, release, (s) => s.stage?.index === 1 && s.stage.evaluations >= 2);

  // "All releases now in canary" is one filter.
  await page.goto(listUrl('SparkPhase="canary"'));
  await page.getByText('SparkPhase', { exact: false }).first().waitFor();
  const row = page.getByRole('link', { name: release, exact: true });
  await row.waitFor({ timeout: 30_000 });

  // The same release is not among those in another phase, nor at another weight.
  await page.goto(listUrl(`SparkPhase="freeze" AND SparkVersion="${plan.version}"`));
  await page.getByRole('heading', { name: 'No Results' }).waitFor({ timeout: 30_000 });
  await page.goto(listUrl(`SparkPhase="canary" AND SparkCanaryWeight=5 AND SparkStage=2 AND SparkService="${plan.service}"`));
  await row.waitFor({ timeout: 30_000 });

  await row.click();
  await page.waitForURL(new RegExp(`/workflows/${release.replaceAll('.', '\\.')}/`));
  await page.getByText('User Metadata').first().click();
  await page.getByRole('heading', { name: 'Current Details' }).waitFor();
  const details = await currentDetails(page);
  expect(await details.locator('strong').first().innerText()).toBe(`${plan.service} ${plan.version}`);
  expect(await details.locator('body').innerText()).toMatch(/phase canary, canary weight 5%, verdict running/);
  const rows = (await details.locator('table tr').allInnerTexts()).map((r) => r.split('\t').map((c) => c.trim()));
  expect(rows[0]).toEqual(['stage', 'traffic', 'state', 'evaluations', 'signals passed']);
  expect(rows.slice(1).map(([stage, traffic, state]) => [stage, traffic, state])).toEqual([['1', '1%', 'passed'], ['2', '5%', 'running'], ['3', '100%', 'pending']]);
  expect(rows[2]![4]).toMatch(/^\d of 8$/);
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'temporal-ui-current-details.png') });

  await h.client.control(release, 'abort', { by: 'bora', reason: 'ui test done' });
  expect((await h.client.result(release)).verdict).toBe('aborted');
});
