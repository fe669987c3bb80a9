// TrafficRouter that runs an operator's shell command (kubectl patch of an Istio
// VirtualService, an SMI TrafficSplit, a load-balancer CLI, ...). The command gets
// the weights as SPARK_CANARY_WEIGHT / SPARK_STABLE_WEIGHT and `{weight}` in its text.
import { spawn } from 'node:child_process';
import type { RouterSettings, TrafficRouter, WeightChange } from './router';

export type CommandTrafficConfig = Extract<RouterSettings, { router: 'command' }>;

/** Enough of a command's output for the evidence and an error message. */
const MAX_OUTPUT_CHARS = 4000;

/** `config` must already be validated (see createTrafficRouter). */
export function createCommandRouter(config: CommandTrafficConfig): TrafficRouter {
  return {
    kind: 'command',
    async setCanaryWeight(percent: number): Promise<WeightChange> {
      const command = config.command.replaceAll('{weight}', String(percent));
      // In hundredths so 100 - 8.04 prints as 91.96, not 91.96000000000001.
      const stable = (10_000 - Math.round(percent * 100)) / 100;
      const env = { SPARK_CANARY_WEIGHT: String(percent), SPARK_STABLE_WEIGHT: String(stable) };
      const stdout = await runShell(command, env, config.timeoutMs);
      const shown = `SPARK_CANARY_WEIGHT=${env.SPARK_CANARY_WEIGHT} SPARK_STABLE_WEIGHT=${env.SPARK_STABLE_WEIGHT} sh -c ${JSON.stringify(command)}`;
      return { previous: null, current: percent, detail: `${shown}\nexit 0${stdout ? `; stdout: ${stdout}` : ''}` };
    },
    // Without a read command there is nothing to ask the backend what it holds.
    currentCanaryWeight: async () => (config.readCommand ? parseReadBack(config.readCommand, await runShell(config.readCommand, {}, config.timeoutMs)) : null),
  };
}

/** The read command prints the canary's percent; anything else is an error, never a guess. */
function parseReadBack(command: string, stdout: string): number {
  const percent = /^\d+(\.\d+)?$/.test(stdout) ? Number(stdout) : NaN;
  if (!(percent >= 0 && percent <= 100)) {
    throw new Error(`traffic readCommand ${JSON.stringify(command)} must print the canary percent (0-100), printed ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  return percent;
}

/** Runs `command` with /bin/sh; resolves with its stdout, rejects with its stderr. */
function runShell(command: string, extraEnv: Record<string, string>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills what the shell started too
    // (otherwise a grandchild holding the pipes keeps us waiting).
    const child = spawn('/bin/sh', ['-c', command], {
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-MAX_OUTPUT_CHARS)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-MAX_OUTPUT_CHARS)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is already gone.
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`traffic command could not start: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const output = stderr.trim() || stdout.trim() || '(no output)';
      const quoted = JSON.stringify(command);
      if (timedOut) reject(new Error(`traffic command ${quoted} timed out after ${timeoutMs} ms and was killed`));
      else if (code === 0) resolve(stdout.trim());
      else if (code !== null) reject(new Error(`traffic command ${quoted} exited with code ${code}: ${output}`));
      else reject(new Error(`traffic command ${quoted} was killed by ${signal}: ${output}`));
    });
  });
}
