// The operator card: rendered from the plan, and the card in docs/ is the
// shipped plan's (regenerate with the command in the failure message).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../src/client';
import { projectRoot } from '../../src/config';
import { passRule, renderOperatorCard, renderPlanOverview } from '../../src/plan/card';
import { formatDuration } from '../../src/plan/duration';
import { loadPlanFile, loadPlanFileWith } from '../../src/plan/loader';
import { releaseId } from '../../src/release-client';

const SHIPPED = 'plans/v1.4.0.yaml';
const plan = loadPlanFile(path.join(projectRoot, SHIPPED));
const card = renderOperatorCard(plan, { planFile: SHIPPED, release: releaseId(plan.service, plan.version) });

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('docs/operator-card.md is the card of the shipped plan', () => {
  const committed = fs.readFileSync(path.join(projectRoot, 'docs', 'operator-card.md'), 'utf8');
  if (committed !== card) {
    throw new Error(`docs/operator-card.md does not match ${SHIPPED}: regenerate it with\n  bin/spark-release plan card ${SHIPPED} --out docs/operator-card.md`);
  }
});

test('the card carries every stage, signal threshold and trigger of the plan', () => {
  for (const [i, s] of plan.canary.stages.entries()) expect(card).toContain(`| ${i + 1} | ${s.traffic}% | ${formatDuration(s.duration)} |`);
  for (const s of plan.signals) expect(card).toContain(`| ${s.title} | ${passRule(s)} |`);
  for (const t of plan.triggers) expect(card).toContain(`| ${t.title} | ${t.group} |`);
  expect(passRule(plan.signals.find((s) => s.id === 'api_p95_latency')!)).toBe('≤ 200ms');
  expect(passRule(plan.signals.find((s) => s.id === 'csp_violations')!)).toBe('≤ baseline + 10% (at least 1/kreq)');
});

test('the card gives the command for each gate decision and for rollback, on this release', () => {
  const release = 'release-spark-trading-v1.4.0';
  expect(card).toContain(`bin/spark-release approve ${release} --as <approver>`);
  expect(card).toContain(`bin/spark-release reject  ${release} --as <approver>`);
  expect(card).toContain(`bin/spark-release abort  ${release} --as <you>`);
  expect(card).toContain(`bin/spark-release evidence verify ${release}`);
  expect(card).toContain('approvers bora, cem, elif, quorum 1; the initiator may not approve; no decision within 30m is a NO-GO');
});

test('the first-night rhythm counts its checks from the plan', () => {
  expect(card).toContain('| 0h | 2h | 15m | 8 |');
  expect(card).toContain('| 6h | 24h | 1h | 18 |');
});

test('a compressed plan says its durations are compressed', () => {
  const demo = loadPlanFile(path.join(projectRoot, 'plans', 'demo.yaml'));
  const text = renderOperatorCard(demo, { planFile: 'plans/demo.yaml', release: 'release-x' });
  expect(text).toContain(`compressed by the plan's time scale ${demo.timeScale}`);
  expect(text).toContain('| 1 | 1% | 3m |');
});

test('the plan overview (the workflow\'s static details) stays within the UI limit', () => {
  const overview = renderPlanOverview(plan);
  expect(Buffer.byteLength(overview)).toBeLessThan(20_000);
  expect(overview).toContain('GO/NO-GO: approvers bora, cem, elif');
});

test('`plan card` prints the card and `--out` writes it', async () => {
  const printed = await cli('plan', 'card', SHIPPED);
  expect(printed.code).toBe(0);
  expect(printed.out).toBe(card.trimEnd());
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'card-')), 'card.md');
  expect((await cli('plan', 'card', SHIPPED, '--out', out)).code).toBe(0);
  expect(fs.readFileSync(out, 'utf8')).toBe(card);
});

test('`plan card` of a bad plan names the field and writes nothing', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'card-')), 'card.md');
  const r = await cli('plan', 'card', path.join(projectRoot, 'test', 'fixtures', 'plans', 'several-problems.yaml'), '--out', out);
  expect(r.code).toBe(2);
  expect(r.err).toMatch(/timeline\.freeze/);
  expect(fs.existsSync(out)).toBe(false);
});

test('a stage of the plan changes the card', () => {
  const changed = loadPlanFileWith(path.join(projectRoot, SHIPPED), { canary: { stages: [{ traffic: 10, duration: '20m' }, { traffic: 100, duration: '30m' }] } });
  const text = renderOperatorCard(changed, { planFile: SHIPPED, release: 'r' });
  expect(text).toContain('| 1 | 10% | 20m |');
  expect(text).not.toContain('| 3 | 25% |');
});
