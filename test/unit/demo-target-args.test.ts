// `demo/target.ts` answers --help and bad arguments in words, not a stack.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

jest.setTimeout(60_000);

const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '../../demo/target.ts'), ...args], { encoding: 'utf8' });

test('--help prints the usage and exits 0', () => {
  const result = run('--help');
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^usage: tsx demo\/target\.ts up \[--stable-version v\]/);
});

test.each([
  [['--bogus'], /^error: arguments: Unknown option '--bogus'.*\nusage: /s],
  [[], /^error: command: expected "up"\nusage: /],
  [['up', '--rps'], /^error: arguments: Option '--rps <value>' argument missing\nusage: /],
])('%p is a clear error with the usage, exit 2', (args, words) => {
  const result = run(...args);
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(words);
  expect(result.stderr).not.toMatch(/ERR_PARSE_ARGS|\n\s+at /);
});
