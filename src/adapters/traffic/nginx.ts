// TrafficRouter for nginx: owns one file holding a weighted upstream block,
// which the main nginx config includes. Every change is written atomically,
// checked with `nginx -t` and only then reloaded; a refused file is put back.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import type { RouterSettings, TrafficRouter, WeightChange } from './router';

export type NginxTrafficConfig = Extract<RouterSettings, { router: 'nginx' }>;

/** `nginx -t` and `nginx -s reload` return in milliseconds; longer means something is stuck. */
const NGINX_TIMEOUT_MS = 30_000;

/**
 * The upstream block for `percent` to the canary. nginx refuses weight=0, so a
 * server that should get nothing is marked `down` (it then gets no requests,
 * not even retries).
 */
export function renderUpstream(config: NginxTrafficConfig, percent: number): string {
  const { stable, canary, scale } = wholeWeights(percent);
  const server = (address: string, weight: number): string =>
    `    server ${address} ${weight === 0 ? 'down' : `weight=${weight}`};`;
  return [
    `# Written by spark-release: canary ${percent}%, stable ${stable / scale}%. Rewritten on every weight change.`,
    `upstream ${config.upstream} {`,
    server(config.stableServer, stable),
    server(config.canaryServer, canary),
    '}',
    '',
  ].join('\n');
}

/** nginx weights are whole numbers: 25% is 75/25, 0.5% is 995/5, 0.25% is 9975/25. */
function wholeWeights(percent: number): { stable: number; canary: number; scale: number } {
  const scale = [1, 10, 100].find((s) => Math.abs(percent * s - Math.round(percent * s)) < 1e-9) ?? 100;
  const canary = Math.round(percent * scale);
  return { stable: 100 * scale - canary, canary, scale };
}

/** The canary's share in an upstream file, or null when the file does not say. */
export function canaryPercentOf(config: NginxTrafficConfig, fileText: string): number | null {
  const block = new RegExp(`upstream\\s+${escapeRegExp(config.upstream)}\\s*\\{([^}]*)\\}`).exec(fileText)?.[1];
  if (block === undefined) return null;
  const weights = new Map<string, number>();
  for (const [, address, params] of block.matchAll(/^\s*server\s+([^\s;]+)([^;]*);/gm)) {
    if (address === undefined) continue;
    const words = (params ?? '').trim().split(/\s+/);
    const weight = Number(words.find((w) => w.startsWith('weight='))?.slice('weight='.length) ?? '1');
    if (!Number.isInteger(weight)) return null;
    weights.set(address, words.includes('down') ? 0 : weight);
  }
  const canary = weights.get(config.canaryServer);
  const stable = weights.get(config.stableServer);
  if (canary === undefined || stable === undefined || canary + stable === 0) return null;
  return (canary * 100) / (canary + stable);
}

/** `config` must already be validated (see createTrafficRouter). */
export function createNginxRouter(config: NginxTrafficConfig): TrafficRouter {
  const nginxArgs = [
    ...(config.nginxConfig ? ['-c', config.nginxConfig] : []),
    ...(config.nginxPrefix ? ['-p', config.nginxPrefix] : []),
  ];
  const commandLine = (action: string[]): string => [config.nginxBinary, ...action, ...nginxArgs].join(' ');

  async function readCurrent(): Promise<string | null> {
    try {
      return await readFile(config.configFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** Readers (and nginx) see the old file or the new one, never half of one. */
  async function replaceFile(text: string | null): Promise<void> {
    if (text === null) {
      await unlink(config.configFile).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      return;
    }
    const temporary = `${config.configFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, text, 'utf8');
    await rename(temporary, config.configFile);
  }

  function runNginx(action: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(config.nginxBinary, [...action, ...nginxArgs], { timeout: NGINX_TIMEOUT_MS }, (error, _stdout, stderr) => {
        if (!error) return resolve();
        const output = String(stderr).trim() || error.message;
        reject(new Error(`${commandLine(action)} failed: ${output}`));
      });
    });
  }

  return {
    kind: 'nginx',
    async setCanaryWeight(percent: number): Promise<WeightChange> {
      const before = await readCurrent();
      const previous = before === null ? null : canaryPercentOf(config, before);
      const upstream = renderUpstream(config, percent);
      await replaceFile(upstream);
      try {
        await runNginx(['-t']);
        // Reload even when the file was already right: a run that crashed between
        // writing and reloading leaves exactly that state behind.
        await runNginx(['-s', 'reload']);
      } catch (error) {
        await replaceFile(before);
        throw new Error(`nginx refused canary ${percent}% for upstream ${config.upstream}; ${config.configFile} restored: ${(error as Error).message}`);
      }
      return { previous, current: percent, detail: `${config.configFile}:\n${upstream}${commandLine(['-t'])} ok; ${commandLine(['-s', 'reload'])} sent` };
    },
    async currentCanaryWeight(): Promise<number | null> {
      const text = await readCurrent();
      return text === null ? null : canaryPercentOf(config, text);
    },
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
