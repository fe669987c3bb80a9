// Property-based fuzzing of the CLI parser (src/client.ts main()): whatever the
// argument list, main() resolves to an exit code and never throws; every
// non-zero exit says why in one plain message (no stack trace). Temporal and
// PostgreSQL point at addresses that refuse at once, so nothing is ever sent.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { main } from '../../src/client';

const SHIPPED = path.resolve(__dirname, '../../plans/v1.4.0.yaml');
const COMMANDS = ['start', 'status', 'watch', 'approve', 'reject', 'abort', 'hold', 'resume', 'evidence', 'plan', 'help'];
// No --out: a fuzzed path must never be written to.
const OPTIONS = ['--as', '--dry-run', '--time-scale', '--watch', '--json', '--reason', '--gate', '--run', '--override', '--help', '-h', '--', '-', '--as=', '--reason='];
const VALUES = [SHIPPED, 'verify', 'check', 'card', 'release-spark-trading-v1.4.0', 'bora', 'go', 'no-go', '0', '-1', '0.0166', '2', 'NaN', '1e-400', '', ' ', '\u0000', 'ü', 'x'.repeat(3000)];

let cwd: string;
const saved = { ...process.env };
let tmp: string;

beforeAll(() => {
  cwd = process.cwd();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'spark-fuzz-cli-'));
  process.chdir(tmp);
  process.env.TEMPORAL_ADDRESS = 'unix:///nonexistent/spark-fuzz.sock';
  process.env.DATABASE_URL = 'postgres://fuzz:fuzz@127.0.0.1:1/fuzz';
  process.env.SPARK_RELEASE_USER = 'fuzz';
});

afterAll(() => {
  process.chdir(cwd);
  process.env = saved;
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

function expectPlainOutcome({ code, out, err }: { code: number; out: string[]; err: string[] }): void {
  expect(Number.isInteger(code)).toBe(true);
  if (code !== 0) expect(err.join('\n').trim()).not.toBe('');
  else expect([...out, ...err].join('\n').trim()).not.toBe('');
  expect([...out, ...err].join('\n')).not.toMatch(/\n\s+at .+:\d+:\d+\)?$/m);
}

const token = fc.oneof(fc.constantFrom(...COMMANDS, ...OPTIONS, ...VALUES), fc.string({ maxLength: 20 }));

describe('the CLI under fuzzing', () => {
  test('arbitrary argument lists: an exit code and a plain message, never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ maxLength: 30 }), { maxLength: 6 }), async (argv) => {
        expectPlainOutcome(await run(argv));
      }),
      { numRuns: 200 },
    );
  });

  test('known commands with shuffled options and values: an exit code and a plain message', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMMANDS), fc.array(token, { maxLength: 7 }), async (command, rest) => {
        expectPlainOutcome(await run([command, ...rest]));
      }),
      { numRuns: 300 },
    );
  });

  test('an unknown command exits non-zero and names it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/).filter((c) => !COMMANDS.includes(c)), async (command) => {
        const { code, err } = await run([command, 'x']);
        expect(code).not.toBe(0);
        expect(err.join('\n')).toContain(`unknown command '${command}'`);
      }),
      { numRuns: 100 },
    );
  });

  test('a bad --time-scale is refused before anything is started', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.double({ noNaN: false }).filter((n) => !(n > 0 && n <= 1)).map(String), fc.string({ maxLength: 8 }).filter((s) => !(Number(s) > 0 && Number(s) <= 1))), async (scale) => {
        const { code, err } = await run(['start', SHIPPED, '--time-scale', scale, '--as', 'deniz']);
        expect(code).not.toBe(0);
        expect(err.join('\n')).toMatch(/time-scale/);
      }),
      { numRuns: 100 },
    );
  });
});
