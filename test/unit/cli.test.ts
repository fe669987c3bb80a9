// Bad input at the CLI: every mistake gets a clear error naming what is wrong,
// before anything is sent to a release.
import path from 'node:path';
import { main } from '../../src/client';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const fixtures = path.join(__dirname, '..', 'fixtures', 'plans');

test('an unknown command is refused with a suggestion', async () => {
  const r = await run('aprove', 'release-x');
  expect(r.code).not.toBe(0);
  expect(r.err).toMatch(/unknown command 'aprove'/);
  expect(r.err).toMatch(/approve/);
});

test('an unknown flag is refused and names the flag', async () => {
  const r = await run('status', 'release-x', '--jsn');
  expect(r.code).not.toBe(0);
  expect(r.err).toMatch(/unknown option '--jsn'/);
});

test('approve without a reason is refused before anything is sent', async () => {
  const r = await run('approve', 'release-x', '--as', 'bora');
  expect(r.code).not.toBe(0);
  expect(r.err).toMatch(/required option '--reason <text>' not specified/);
});

test('a time scale outside (0, 1] is refused naming the option', async () => {
  const r = await run('start', path.join(__dirname, '..', '..', 'plans', 'v1.4.0.yaml'), '--time-scale', '2');
  expect(r.code).not.toBe(0);
  expect(r.err).toMatch(/--time-scale/);
  expect(r.err).toMatch(/at most 1/);
});

test('plan check accepts the shipped plans and reports every problem of a bad one with its field', async () => {
  const ok = await run('plan', 'check', path.join(__dirname, '..', '..', 'plans', 'v1.4.0.yaml'));
  expect(ok.code).toBe(0);
  expect(ok.out).toMatch(/OK: spark-trading v1.4.0: 5 stages, 8 signals, 20 triggers/);
  const bad = await run('plan', 'check', path.join(fixtures, 'several-problems.yaml'));
  expect(bad.code).toBe(2);
  expect(bad.err).toMatch(/invalid release plan/);
  expect(bad.err.split('\n').filter((l) => l.trim().startsWith('- ')).length).toBeGreaterThan(1);
});

test('a missing plan file names the file', async () => {
  const r = await run('plan', 'check', '/nonexistent/plan.yaml');
  expect(r.code).toBe(2);
  expect(r.err).toMatch(/\/nonexistent\/plan.yaml/);
  expect(r.err).toMatch(/ENOENT/);
});

test('malformed decisions are refused naming the field, before anything is sent', async () => {
  const blank = await run('approve', 'release-x', '--as', 'bora', '--reason', '   ');
  expect(blank.code).toBe(2);
  expect(blank.err).toMatch(/reason: must say why/);
  const gate = await run('reject', 'release-x', '--as', 'bora', '--reason', 'no', '--gate', 'canary');
  expect(gate.code).toBe(2);
  expect(gate.err).toMatch(/gate: unknown gate "canary"/);
  const long = await run('abort', 'release-x', '--as', 'bora', '--reason', 'x'.repeat(2001));
  expect(long.code).toBe(2);
  expect(long.err).toMatch(/reason: longer than 2000 characters/);
});
