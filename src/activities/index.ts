// The activities of a release, built over the adapters the worker composes.
// Each is idempotent: evidence keys are deterministic and weights are absolute.
import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { EvidenceInput, EvidenceLedger } from '../adapters/ledger/ledger';
import { EvidenceConflictError, EvidenceInputError } from '../adapters/ledger/postgres';
import type { InstantResult, MetricsProvider } from '../adapters/metrics/provider';
import type { TrafficConfig, TrafficRouter } from '../adapters/traffic/router';
import type { WorkerAllowances } from '../workflows/allowed';
import { CHECK_CATALOGUE, checkFiles } from '../plan/catalogue';
import type { ScmAdapters } from '../adapters/scm';
import type { PipelineMetrics } from '../metrics/pipeline';
import type { Notifier } from '../adapters/chat/notifier';
import type { Pager } from '../adapters/pager/pager';
import { CHECKS } from './checks/registry';
import { createNotifyActivities } from './notify';
import { createCloseoutActivities, type CloseoutActivities } from './closeout';
import { createRitualActivities, type RitualActivities } from './ritual';
import type { CheckOutcome, ReleaseActivities, ReleaseRef, RunChecksRequest } from './types';

export interface ActivityDeps {
  ledger: EvidenceLedger;
  metrics: MetricsProvider;
  router(config: TrafficConfig): TrafficRouter;
  /** The worker's pipeline metrics (stage transitions, rollbacks, evaluations); absent in bare tests. */
  pipeline?: PipelineMetrics;
  /** Freeze labels and the release tag; absent means not configured (recorded as such). */
  scm?: ScmAdapters;
  /** Slack; absent means not configured, and every announcement records that it was not delivered. */
  notifier?: Notifier;
  /** Pages and escalations; absent means not configured (recorded as such). */
  pager?: Pager;
  /** What the worker's configuration allows (src/config.ts); without it no release starts. */
  allowances?: WorkerAllowances;
}

/**
 * The rollback's evidence, after the queued records. A queued record the ledger can
 * never take (a conflicting key, a bad name) must not hold the rollback up: the
 * rollback's own records go in, then each queued one alone, a refused one replaced
 * by a note saying why.
 */
async function appendAfterRollback(ledger: EvidenceLedger, ref: ReleaseRef, queued: EvidenceInput[], own: EvidenceInput[]): Promise<void> {
  try {
    await ledger.appendMany([...queued, ...own]);
    return;
  } catch (err) {
    if (!(err instanceof EvidenceInputError || err instanceof EvidenceConflictError)) throw err;
  }
  await ledger.appendMany(own);
  for (const [i, record] of queued.entries()) {
    await ledger.append(record).catch((err: Error) => {
      if (!(err instanceof EvidenceInputError || err instanceof EvidenceConflictError)) throw err;
      return ledger.append(evidence(ref, `refused/${own[0]!.key}/${i}`, 'evidence_refused.txt', 'note', `a queued record (${JSON.stringify(record.key)}, file ${JSON.stringify(record.file)}) could not be recorded: ${err.message}`, 'append'));
    });
  }
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

export function createActivities(deps: ActivityDeps): ReleaseActivities & CloseoutActivities & RitualActivities {
  const dryRunWeights = new Map<string, number>();

  /** Runs one check; its evidence is written by runChecks, with the phase's other checks. */
  const runOne = async (req: RunChecksRequest, id: string): Promise<{ outcome: CheckOutcome; files: Record<string, string> }> => {
    const started = Date.now();
    const check = CHECKS[id];
    const base = { id, phase: req.phase, files: [] as string[] };
    if (!check) {
      return { outcome: { ...base, status: 'not-implemented', summary: `${CHECK_CATALOGUE[id]?.title ?? id}: not implemented; nothing was checked`, durationMs: 0 }, files: {} };
    }
    try {
      const report = await withTimeout(req.timeoutMs, (signal) => check({ ...req, context: req.context, metrics: deps.metrics, signal }));
      const outcome = { ...base, status: report.status, summary: report.summary, files: Object.keys(report.files), durationMs: Date.now() - started, data: report.data };
      return { outcome, files: report.files };
    } catch (err) {
      const timedOut = err instanceof TimeoutError;
      return { outcome: { ...base, status: timedOut ? 'timeout' : 'error', summary: `${CHECK_CATALOGUE[id]?.title ?? id}: ${(err as Error).message}`, durationMs: Date.now() - started }, files: {} };
    }
  };

  return {
    ...createCloseoutActivities(deps),
    ...createRitualActivities(deps),
    async workerAllowances() {
      if (!deps.allowances) throw ApplicationFailure.nonRetryable('this worker has no configuration of what may run (src/config.ts, SPARK_WORKER_CONFIG)');
      return deps.allowances;
    },

    async recordEvidence(records) {
      await deps.ledger.appendMany(records);
      return records.length;
    },

    async runChecks(req) {
      const heartbeat = setInterval(() => Context.current().heartbeat(), 5000);
      try {
        const ran = await Promise.all(req.checks.map((id) => runOne(req, id)));
        const results = ran.map((r) => r.outcome);
        // A file several checks write (redteam_<v>.txt, micro_blast_<v>.log, ...) holds each one's section, in plan order.
        const sections = new Map<string, string[]>();
        for (const { files } of ran) for (const [file, body] of Object.entries(files)) sections.set(file, [...(sections.get(file) ?? []), body]);
        await deps.ledger.appendMany([...sections].map(([file, bodies]) => evidence(req, `check/${req.phase}/${file}`, file, 'check', bodies.join('\n'))));
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
      const change = await deps.router(req.traffic).setCanaryWeight(req.percent);
      deps.pipeline?.stageEntered(req.service, req.percent);
      return change;
    },

    async readCanaryWeight(req) {
      if (req.dryRun) return 0;
      return deps.router(req.traffic).currentCanaryWeight();
    },

    async evaluate(req) {
      if (req.flush.length > 0) await deps.ledger.appendMany(req.flush);
      const started = Date.now();
      const results = await Promise.all(req.queries.map((q) => deps.metrics.instant(q)));
      deps.pipeline?.evaluated((Date.now() - started) / 1000, results);
      return Object.fromEntries(req.queries.map((q, i) => [q, results[i]!]));
    },

    async queryRanges(req) {
      const results = await Promise.all(req.ranges.map((r) => deps.metrics.range(r.query, new Date(r.start), new Date(r.end), r.stepSeconds)));
      return Object.fromEntries(req.ranges.map((r, i) => [r.key, results[i]!]));
    },

    async rollback(req) {
      // Traffic first, evidence after: an unreachable evidence database must not hold the
      // canary's traffic up. The queued records go in with the rollback's, in order.
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
      await appendAfterRollback(deps.ledger, req, req.flush, [
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
      deps.pipeline?.rolledBack(req.service, req.cause);
      return { evidence: files, weightAfter: after, completedAt };
    },

    ...createNotifyActivities(deps),
  };
}
