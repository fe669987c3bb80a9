// Builds the TrafficRouter a release plan's `traffic` section asks for. This is
// the one place router settings and canary percentages are checked, so the
// routers themselves can trust what they are given.
import { requireHttpUrl, requireTimeoutMs } from '../http';
import { createCommandRouter } from './command';
import { createLocalRouter } from './local';
import { createNginxRouter } from './nginx';
import type { RouterSettings, TrafficConfig, TrafficRouter, WeightChange } from './router';

const ROUTERS = ['local', 'nginx', 'command', 'record-only'] as const;
// Names and addresses land inside nginx config text: no spaces, quotes, braces, `;` or `#`.
const NGINX_WORD = /^[^\s;{}#"'\\]+$/;

/** A plan's nginx or command router must first be resolved by name (WorkerConfig.routerSettings). */
export function createTrafficRouter(config: RouterSettings | TrafficConfig): TrafficRouter {
  const router = buildRouter(config);
  return {
    kind: router.kind,
    setCanaryWeight: async (percent) => router.setCanaryWeight(requireCanaryPercent(percent)),
    currentCanaryWeight: () => router.currentCanaryWeight(),
  };
}

/** 0..100 with at most two decimals (nginx needs whole weights; 0.01% steps scale to them). */
export function requireCanaryPercent(percent: unknown): number {
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100 || Math.round(percent * 100) / 100 !== percent) {
    throw new Error(`canary percent must be a number from 0 to 100 with at most two decimals, got ${typeof percent === 'number' ? percent : JSON.stringify(percent)}`);
  }
  return percent;
}

function buildRouter(config: RouterSettings | TrafficConfig): TrafficRouter {
  const raw = config as unknown as Record<string, unknown> | undefined;
  if (raw && 'name' in raw) {
    throw new Error(`traffic.name: the ${String(raw.router)} router "${String(raw.name)}" is the worker's to resolve (its configuration, src/config.ts), not a setting to run`);
  }
  switch (raw?.router) {
    case 'local':
      return createLocalRouter(requireHttpUrl(raw.adminUrl, 'traffic.adminUrl'));
    case 'nginx':
      return createNginxRouter({
        router: 'nginx',
        configFile: requireText(raw.configFile, 'traffic.configFile'),
        upstream: requireNginxWord(raw.upstream, 'traffic.upstream'),
        stableServer: requireNginxWord(raw.stableServer, 'traffic.stableServer'),
        canaryServer: requireNginxWord(raw.canaryServer, 'traffic.canaryServer'),
        nginxBinary: requireText(raw.nginxBinary, 'traffic.nginxBinary'),
        nginxPrefix: raw.nginxPrefix === undefined ? undefined : requireText(raw.nginxPrefix, 'traffic.nginxPrefix'),
        nginxConfig: raw.nginxConfig === undefined ? undefined : requireText(raw.nginxConfig, 'traffic.nginxConfig'),
      });
    case 'command':
      return createCommandRouter({
        router: 'command',
        command: requireText(raw.command, 'traffic.command'),
        timeoutMs: requireTimeoutMs(raw.timeoutMs, 'traffic.timeoutMs'),
        ...(raw.readCommand === undefined ? {} : { readCommand: requireText(raw.readCommand, 'traffic.readCommand') }),
      });
    case 'record-only':
      return createRecordOnlyRouter();
    default:
      throw new Error(`traffic.router must be one of ${ROUTERS.join(', ')}, got ${JSON.stringify(raw?.router)}`);
  }
}

/** For dry runs: remembers the weight it would have set and changes nothing. */
function createRecordOnlyRouter(): TrafficRouter {
  let recorded: number | null = null;
  return {
    kind: 'record-only',
    async setCanaryWeight(percent: number): Promise<WeightChange> {
      const previous = recorded;
      recorded = percent;
      return { previous, current: percent, detail: `record-only: would send ${percent}% to the canary; no traffic moved` };
    },
    currentCanaryWeight: async () => recorded,
  };
}

function requireText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`${field} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function requireNginxWord(value: unknown, field: string): string {
  const text = requireText(value, field);
  if (!NGINX_WORD.test(text)) {
    throw new Error(`${field} must be one nginx word (no spaces, quotes, braces, ';' or '#'), got ${JSON.stringify(text)}`);
  }
  return text;
}
