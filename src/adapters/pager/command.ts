// Pager over an operator's command (a pager CLI, a script that calls an API):
// the page arrives as JSON on stdin and as SPARK_PAGE_* variables. Exit 0 means delivered.
import { spawn } from 'node:child_process';
import { requireTimeoutMs } from '../http';
import { attemptWithRetries, checkRetryPolicy, DEFAULT_DELIVERY_RETRY, type RetryPolicy } from '../retry';
import type { Page, PageDelivery, Pager } from './pager';

export interface CommandPagerOptions {
  command: string;
  timeoutMs?: number;
  retry?: RetryPolicy;
}

const MAX_OUTPUT_CHARS = 300;

export function createCommandPager(opts: CommandPagerOptions): Pager {
  if (typeof opts.command !== 'string' || opts.command.trim() === '') throw new Error('command: a shell command is required');
  const timeoutMs = requireTimeoutMs(opts.timeoutMs ?? 30_000, 'timeoutMs');
  const policy = checkRetryPolicy(opts.retry ?? DEFAULT_DELIVERY_RETRY, 'retry');
  return {
    configured: true,
    async page(page: Page): Promise<PageDelivery> {
      const outcome = await attemptWithRetries(policy, () => runPageCommand(opts.command, page, timeoutMs), () => ({ retry: true }));
      const tries = `${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'}`;
      return outcome.ok
        ? { delivered: true, attempts: outcome.attempts, detail: `delivered (command exit 0${outcome.value ? `: ${outcome.value}` : ''}) in ${tries}` }
        : { delivered: false, attempts: outcome.attempts, detail: `not delivered (command) after ${tries}: ${outcome.error.message}` };
    },
  };
}

function runPageCommand(command: string, page: Page, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      SPARK_PAGE_KIND: page.kind,
      SPARK_PAGE_REASON: page.reason,
      SPARK_PAGE_RELEASE: page.release,
      SPARK_PAGE_TO: page.to.join(','),
      SPARK_PAGE_ROUTE: page.route,
      SPARK_PAGE_KEY: page.key,
    };
    // Its own process group, so a timeout also kills what the shell started.
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-MAX_OUTPUT_CHARS));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    // A command that does not read stdin closes it early: that is not a failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(page) + '\n');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`pager command could not start: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const said = output.trim();
      if (timedOut) reject(new Error(`pager command timed out after ${timeoutMs} ms and was killed`));
      else if (code === 0) resolve(said);
      else reject(new Error(`pager command ${code !== null ? `exited with code ${code}` : `was killed by ${signal}`}${said ? `: ${said}` : ''}`));
    });
  });
}
