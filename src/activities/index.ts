// The activities of a release, built over the adapters the worker composes.
// Each is idempotent: evidence keys are deterministic and weights are absolute.
import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { EvidenceInput, EvidenceLedger } from '../adapters/ledger/ledger';
import type { InstantResult, MetricsProvider } from '../adapters/metrics/provider';
import type { TrafficConfig, TrafficRouter } from '../adapters/traffic/router';
import { CHECK_CATALOGUE, checkFiles } from '../plan/catalogue';
import { CHECKS } from './checks/registry';
import type { CheckOutcome, ReleaseActivities, ReleaseRef, RunChecksRequest } from './types';

export interface ActivityDeps {
  ledger: EvidenceLedger;
  metrics: MetricsProvider;
  router(config: TrafficConfig): TrafficRouter;
}

/** Compact UTC stamp for evidence file names: 20261121T104500Z. */
export function fileStamp(iso: string): string {
  return iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function evidence(ref: ReleaseRef, key: string, file: string, kind: EvidenceInput['kind'], body: string, mode: EvidenceInput['mode'] = 'replace'): EvidenceInput {
  return { release: ref.release, runId: ref.runId, key, file, kind, body, mode };
}

async function withTimeout<T>(ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new TimeoutError(ms));
    }, ms);
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`did not finish within ${ms} ms`);
  }
}

function describe(result: InstantResult): string {
  switch (result.kind) {
    case 'value': return result.value;
    case 'no-data': return `no data (${result.reason})`;
    case 'query-error': return `query error: ${result.message}`;
  }
}

export function createActivities(deps: ActivityDeps): ReleaseActivities {
  const dryRunWeights = new Map<string, number>();

  const runOne = async (req: RunChecksRequest, id: string): Promise<CheckOutcome> => {
    const started = Date.now();
    const check = CHECKS[id];
    const base = { id, phase: req.phase, files: [] as string[] };
    if (!check) {
      return { ...base, status: 'not-implemented', summary: `${CHECK_CATALOGUE[id]?.title ?? id}: not implemented; nothing was checked`, durationMs: 0 };
    }
    try {
      const report = await withTimeout(req.timeoutMs, (signal) => check({ ...req, context: req.context, metrics: deps.metrics, signal }));
      const files = Object.keys(report.files);
      await deps.ledger.appendMany(
        Object.entries(report.files).map(([file, body]) => evidence(req, `check/${req.phase}/${id}/${file}`, file, 'check', body)),
      );
      return { ...base, status: report.status, summary: report.summary, files, durationMs: Date.now() - started, data: report.data };
    } catch (err) {
      const timedOut = err instanceof TimeoutError;
      return { ...base, status: timedOut ? 'timeout' : 'error', summary: `${CHECK_CATALOGUE[id]?.title ?? id}: ${(err as Error).message}`, durationMs: Date.now() - started };
    }
  };

  return {
    async recordEvidence(records) {
      await deps.ledger.appendMany(records);
      return records.length;
    },

    async runChecks(req) {
      const heartbeat = setInterval(() => Context.current().heartbeat(), 5000);
      try {
        const results = await Promise.all(req.checks.map((id) => runOne(req, id)));
        const lines = results.map((r) => `${r.status.toUpperCase().padEnd(15)} ${r.id.padEnd(28)} ${r.durationMs}ms  ${r.summary}${r.status === 'not-implemented' ? ` (would write: ${checkFiles(r.id, req.version).join(', ')})` : ''}`);
        await deps.ledger.append(evidence(req, `checks/${req.phase}`, `checks_${req.phase}_${req.version}.txt`, 'check', `${req.phase} checks of ${req.release} (run ${req.runId})\n\n${lines.join('\n')}\n`));
        return results;
      } finally {
        clearInterval(heartbeat);
      }
    },

    async setCanaryWeight(req) {
      if (req.percent < 0 || req.percent > 100) throw ApplicationFailure.nonRetryable(`percent: ${req.percent} is outside 0..100`);
      if (req.dryRun) {
        const previous = dryRunWeights.get(req.release) ?? 0;
        dryRunWeights.set(req.release, req.percent);
        return { previous, current: req.percent, detail: 'dry run: weight recorded, router untouched' };
      }
      return deps.router(req.traffic).setCanaryWeight(req.percent);
    },

    async readCanaryWeight(req) {
      if (req.dryRun) return 0;
      return deps.router(req.traffic).currentCanaryWeight();
    },

    async evaluate(req) {
      if (req.flush.length > 0) await deps.ledger.appendMany(req.flush);
      const results = await Promise.all(req.queries.map((q) => deps.metrics.instant(q)));
      return Object.fromEntries(req.queries.map((q, i) => [q, results[i]!]));
    },

    async rollback(req) {
      if (req.flush.length > 0) await deps.ledger.appendMany(req.flush);
      const stamp = fileStamp(req.requestedAt);
      const snapshot = async () => {
        const lines: string[] = [`at: ${new Date().toISOString()}`];
        for (const [id, q] of Object.entries(req.queries)) lines.push(`${id}: ${describe(await deps.metrics.instant(q))}`);
        return lines.join('\n') + '\n';
      };
      const before = await snapshot();
      let after: number | null;
      let detail: string;
      if (req.dryRun) {
        dryRunWeights.set(req.release, 0);
        after = 0;
        detail = 'dry run: weight 0 recorded, router untouched';
      } else {
        const router = deps.router(req.traffic);
        const change = await router.setCanaryWeight(0);
        after = await router.currentCanaryWeight();
        if (after !== null && after !== 0) throw new Error(`router still reports ${after}% on the canary after setting 0%`);
        detail = change.detail;
      }
      const afterSnapshot = await snapshot();
      const completedAt = new Date().toISOString();
      const files = [`rollback_${stamp}.txt`, `metrics_before_rollback_${stamp}.txt`, `metrics_after_rollback_${stamp}.txt`];
      await deps.ledger.appendMany([
        evidence(req, `rollback/${stamp}/before`, files[1]!, 'rollback', before),
        evidence(req, `rollback/${stamp}/record`, files[0]!, 'rollback', [
          `release: ${req.release} (run ${req.runId})`,
          `requested: ${req.requestedAt}`,
          `completed: ${completedAt}`,
          `stage: ${req.stage ?? '-'} (canary at ${req.fromTraffic}%)`,
          `cause: ${req.cause}`,
          `reason: ${req.reason}`,
          `canary weight after: ${after ?? 'unknown'}%`,
          `router: ${detail}`,
        ].join('\n') + '\n'),
        evidence(req, `rollback/${stamp}/after`, files[2]!, 'rollback', afterSnapshot),
      ]);
      log.warn('rollback complete', { release: req.release, cause: req.cause });
      return { evidence: files, weightAfter: after, completedAt };
    },

    async announce(req) {
      // Slack delivery arrives with the human-control work; until then announcements are evidence and log lines.
      log.info(`[${req.channel}] ${req.text}`, { release: req.release });
      await deps.ledger.append(evidence(req, req.key, 'announcements.txt', 'note', `${new Date().toISOString()} ${req.channel} ${req.text}`, 'append'));
    },

    async page(req) {
      log.warn(`PAGE: ${req.reason}`, { release: req.release });
      await deps.ledger.append(evidence(req, req.key, 'pages.txt', 'note', `${new Date().toISOString()} ${req.reason}`, 'append'));
    },
  };
}
