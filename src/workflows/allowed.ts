// The plan against the worker's configuration, at the start of a release: the plan
// says what to do, the worker says what may run and be reached (docs/security.md).
// Pure: the names come from the workerAllowances activity (src/config.ts).
import type { ReleasePlan } from '../plan/schema';

export interface WorkerAllowances {
  /** Router name -> kind; the binaries and commands stay on the worker. */
  routers: Record<string, 'nginx' | 'command' | 'haproxy'>;
  urlPrefixes: string[];
  /** Files and directories relative to the project root. */
  paths: string[];
  /** The people registry (id -> Ed25519 public key, 64 hex digits, and roles); absent: decisions are not signed. */
  people?: Record<string, { key: string; roles: string[] }>;
  /** How far a signed decision's time may be from the release's clock. */
  decisionWindowMs: number;
}

/** Every part of the plan outside the worker's configuration, each naming its field; empty when the plan may run. */
export function planRefusals(plan: ReleasePlan, allowed: WorkerAllowances): string[] {
  const out: string[] = [];
  const { traffic, target, ritual } = plan;
  if (traffic.router === 'nginx' || traffic.router === 'command' || traffic.router === 'haproxy') {
    const kind = allowed.routers[traffic.name];
    if (kind !== traffic.router) {
      const known = Object.entries(allowed.routers).filter(([, k]) => k === traffic.router).map(([n]) => n);
      out.push(`traffic.name: the worker has no ${traffic.router} router "${traffic.name}" (its ${traffic.router} routers: ${known.join(', ') || 'none'})`);
    }
  }
  const url = (field: string, value: string | undefined) => {
    if (value !== undefined && !allowed.urlPrefixes.some((p) => value.startsWith(p))) {
      out.push(`${field}: ${value} is outside the worker's URL prefixes (${allowed.urlPrefixes.join(', ')})`);
    }
  };
  const file = (field: string, value: string | undefined) => {
    if (value === undefined) return;
    const inside = !value.startsWith('/') && !value.split('/').includes('..') && allowed.paths.some((p) => value === p || value.startsWith(`${p.replace(/\/$/, '')}/`));
    if (!inside) out.push(`${field}: ${value} is outside the worker's paths (${allowed.paths.join(', ') || 'none'})`);
  };
  if (traffic.router === 'local') url('traffic.adminUrl', traffic.adminUrl);
  if (target) {
    url('target.canaryUrl', target.canaryUrl);
    url('target.stableUrl', target.stableUrl);
    url('target.featureFlagsUrl', target.featureFlagsUrl);
    url('target.prometheusUrl', target.prometheusUrl);
    file('target.migrations', target.migrations);
    target.dashboards.forEach((d, i) => file(`target.dashboards[${i}]`, d));
  }
  if (ritual) {
    file('ritual.lockfile', ritual.lockfile);
    file('ritual.sourceDir', ritual.sourceDir);
  }
  return out;
}
