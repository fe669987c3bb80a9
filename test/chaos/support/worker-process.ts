// Starts release workers as child processes and kills them the hard way.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../../src/config';

export interface WorkerProcess {
  pid: number;
  /** Resolves with the exit code or signal once the process has gone. */
  readonly exited: Promise<string>;
  /** SIGKILL: no shutdown, no completion reported for what was in flight. */
  kill(): Promise<string>;
  /** SIGTERM: the worker's graceful shutdown. */
  stop(): Promise<string>;
  /** A standby starts polling; resolves once it does. */
  activate(): Promise<void>;
}

export interface WorkerProcessOptions {
  readyTimeoutMs?: number;
  /** Build the worker but poll only after activate() (CHAOS_STANDBY in worker-main.ts). */
  standby?: boolean;
}

export interface WorkerEnv {
  TEMPORAL_ADDRESS: string;
  DATABASE_URL: string;
  PROMETHEUS_URL: string;
  SPARK_TASK_QUEUE: string;
  SPARK_EVIDENCE_DIR: string;
  CHAOS_WORKFLOW_BUNDLE: string;
  /** What the release's checks reach (unset: those checks fail, as on a worker without them). */
  SPARK_TARGET_DATABASE_URL?: string;
  SPARK_TARGET_PGBOUNCER_ADMIN_URL?: string;
  GITHUB_API_URL?: string;
  GITHUB_REPOSITORY?: string;
  GITHUB_TOKEN?: string;
  SPARK_SIGNING_KEY?: string;
}

const entry = path.join(__dirname, 'worker-main.ts');

/**
 * Spawns a worker and resolves once it polls its task queue (a standby: once it is built and
 * waits for activate()); its output is appended to `logFile`.
 */
export async function startWorkerProcess(env: WorkerEnv, logFile: string, opts: WorkerProcessOptions = {}): Promise<WorkerProcess> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const log = fs.openSync(logFile, 'a');
  // `node --import tsx`: one process, so the pid we kill is the worker itself.
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: projectRoot,
    env: { ...process.env, ...env, ...(opts.standby ? { CHAOS_STANDBY: '1' } : {}) },
    stdio: [opts.standby ? 'pipe' : 'ignore', 'pipe', log],
  });
  fs.closeSync(log);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)));
  let seen = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    fs.appendFileSync(logFile, chunk);
    seen += chunk;
  });
  /** Resolves once the worker printed `line`. */
  const printed = (line: string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not print "${line}" within ${readyTimeoutMs} ms; see ${logFile}`)), readyTimeoutMs);
    const check = () => {
      if (!seen.includes(line)) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve();
    };
    child.stdout!.on('data', check);
    check();
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`worker exited during start-up (${how}); see ${logFile}`));
    });
  });
  await printed(opts.standby ? 'worker standing by' : 'worker ready');
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    return exited;
  };
  return {
    pid: child.pid!, exited, kill: () => signal('SIGKILL'), stop: () => signal('SIGTERM'),
    activate: async () => {
      child.stdin?.end('go\n');
      await printed('worker ready');
    },
  };
}
