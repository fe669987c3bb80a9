// Builds the TrafficRouter a release plan's `traffic` section asks for. This is
// the one place router settings and canary percentages are checked, so the
// routers themselves can trust what they are given.
import { requireHttpUrl, requireTimeoutMs } from '../http';
import { createCommandRouter } from './command';
import { createHaproxyRouter } from './haproxy';
import { createLocalRouter } from './local';
import { createNginxRouter } from './nginx';
import type { RouterSettings, TrafficConfig, TrafficRouter, WeightChange } from './router';

const ROUTERS = ['local', 'nginx', 'command', 'haproxy', 'record-only'] as const;
// Names and addresses land inside nginx config text: no spaces, quotes, braces, `;` or `#`.
const NGINX_WORD = { pattern: /^[^\s;{}#"'\\]+$/, says: "one nginx word (no spaces, quotes, braces, ';' or '#')" };
// Names land in runtime API commands, where spaces split words and `;` commands: only what HAProxy allows in names.
const HAPROXY_NAME = { pattern: /^[A-Za-z0-9._:-]+$/, says: "an HAProxy name (letters, digits, '.', '-', '_', ':')" };

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
        upstream: requireWord(raw.upstream, 'traffic.upstream', NGINX_WORD),
        stableServer: requireWord(raw.stableServer, 'traffic.stableServer', NGINX_WORD),
        canaryServer: requireWord(raw.canaryServer, 'traffic.canaryServer', NGINX_WORD),
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
    case 'haproxy':
      return createHaproxyRouter({
        router: 'haproxy',
        socket: requireText(raw.socket, 'traffic.socket'),
        backend: requireWord(raw.backend, 'traffic.backend', HAPROXY_NAME),
        stableServer: requireWord(raw.stableServer, 'traffic.stableServer', HAPROXY_NAME),
        canaryServer: requireWord(raw.canaryServer, 'traffic.canaryServer', HAPROXY_NAME),
        timeoutMs: requireTimeoutMs(raw.timeoutMs, 'traffic.timeoutMs'),
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

function requireWord(value: unknown, field: string, word: { pattern: RegExp; says: string }): string {
  const text = requireText(value, field);
  if (!word.pattern.test(text)) {
    throw new Error(`${field} must be ${word.says}, got ${JSON.stringify(text)}`);
  }
  return text;
}
