// The red team's human gate on the real Temporal dev server: a named person
// confirms or declines each item no machine can check; everyone else is refused
// before anything is written; the answers decide the items' checks.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { confirmRedTeamItemUpdate, type RedTeamConfirmInput } from '../../src/workflows/messages';
import { startHarness, uniquePlan, waitForStatus, type Harness } from '../support/harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('redteam-gate');
});

afterAll(async () => {
  await h?.close();
});

/** Sends the update; a refusal comes back as its message. */
async function confirm(release: string, input: RedTeamConfirmInput): Promise<string> {
  const { handle } = await h.client.handle(release);
  try {
    const item = await handle.executeUpdate(confirmRedTeamItemUpdate, { args: [input] });
    return `${item.state} by ${item.by}`;
  } catch (err) {
    return `refused: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message}`;
  }
}

test('a confirmer answers each red-team item, others are refused, and the answers decide the checks', async () => {
  // One plan hour is 18 s here: the gate waits up to 18 s for the answers.
  const plan = uniquePlan({ redTeamGate: { timeout: '1h' } });
  const { release, runId } = await h.client.start(plan, 'deniz');
  await waitForStatus(h.client, release, (s) => s.redTeamGate?.state === 'open');
  const pitr = { release, runId, item: 'pitr-cold-start', by: 'elif', confirmed: true, note: 'base backup + WAL restored cold on spare-db-2, consistent at 10:42' };

  expect(await confirm(release, { ...pitr, by: 'deniz' })).toBe('refused: by: "deniz" may not confirm red-team items (confirmers: elif, bora)');
  expect(await confirm(release, { ...pitr, runId: 'another-run' })).toMatch(/^refused: release\/runId: this is /);
  expect(await confirm(release, { ...pitr, item: 'dns' })).toBe('refused: item: "dns" is not an item of this gate (pitr-cold-start, hsts-subdomains)');
  expect(await confirm(release, pitr)).toBe('confirmed by elif');
  expect(await confirm(release, { ...pitr, by: 'bora' })).toBe('refused: item: "pitr-cold-start" was already confirmed by elif');
  expect(await confirm(release, { ...pitr, item: 'hsts-subdomains', by: 'bora', confirmed: false, note: 'legacy.spark-trading.example still serves plain HTTP' })).toBe('declined by bora');

  const status = await waitForStatus(h.client, release, (s) => s.gates.go.state === 'open');
  expect(status.redTeamGate?.state).toBe('closed');
  const check = (id: string) => status.checks.find((c) => c.id === id)!;
  // Declined: the check fails whatever its machine part said, and so does the checklist's red-team item.
  expect(check('cc-hsts-subdomains')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/declined by bora: legacy\.spark-trading\.example still serves plain HTTP$/) });
  expect(check('rt-pitr-cold-start').summary).toMatch(/confirmed by elif: base backup \+ WAL restored cold/);
  expect(status.gates.go.checklist.find((i) => i.item.startsWith('Red team'))?.ok).toBe(false);
  await expect(confirm(release, { ...pitr, item: 'hsts-subdomains', by: 'elif' })).resolves.toBe('refused: item: the red-team gate is closed');

  await h.client.decide({ release, gate: 'go', decision: 'no-go', approver: 'bora', reason: 'test: red team item declined' });
  expect((await h.client.result(release)).verdict).toBe('no-go');
  const log = fs.readFileSync(path.join(loadConfig().evidenceDir, release, `redteam_gate_${plan.version}.txt`), 'utf8');
  expect(log).toMatch(/CONFIRMED pitr-cold-start by elif: base backup/);
  expect(log).toMatch(/DECLINED hsts-subdomains by bora: legacy/);
});
