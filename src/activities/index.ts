// The activities of a release, built over the adapters the worker composes.
// Each is idempotent: evidence keys are deterministic and weights are absolute.
import { ApplicationFailure } from '@temporalio/common';
import type { EvidenceInput, EvidenceLedger } from '../adapters/ledger/ledger';
import type { MetricsProvider } from '../adapters/metrics/provider';
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
import { createAnchorActivities, type AnchorActivities } from './anchor';
import { createRitualActivities, type RitualActivities } from './ritual';
import { createRollbackActivities } from './rollback';
import { createStageHealthActivities } from './stage-health';
import { WeightFence } from './weight-fence';
import { heartbeating } from './heartbeat';

export { fileStamp } from './rollback';
import { EVIDENCE_NOT_FLUSHED, type CheckOutcome, type ReleaseActivities, type ReleaseRef, type RunChecksRequest } from './types';

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
  /** The ledger's mirror directory, where the signed anchors file lives; absent, no anchor is taken (said so). */
  evidenceDir?: string;
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

export function createActivities(deps: ActivityDeps): ReleaseActivities & CloseoutActivities & RitualActivities & AnchorActivities {
  const dryRunWeights = new Map<string, number>();
  const fence = new WeightFence();

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

  return heartbeating({
    ...createCloseoutActivities(deps),
    ...createRitualActivities(deps),
    ...createAnchorActivities(deps),
    async workerAllowances() {
      if (!deps.allowances) throw ApplicationFailure.nonRetryable('this worker has no configuration of what may run (src/config.ts, SPARK_WORKER_CONFIG)');
      return deps.allowances;
    },

    async recordEvidence(records) {
      await deps.ledger.appendMany(records);
      return records.length;
    },

    async runChecks(req) {
      const ran = await Promise.all(req.checks.map((id) => runOne(req, id)));
      const results = ran.map((r) => r.outcome);
      // A file several checks write (redteam_<v>.txt, micro_blast_<v>.log, ...) holds each one's section, in plan order.
      const sections = new Map<string, string[]>();
      for (const { files } of ran) for (const [file, body] of Object.entries(files)) sections.set(file, [...(sections.get(file) ?? []), body]);
      await deps.ledger.appendMany([...sections].map(([file, bodies]) => evidence(req, `check/${req.phase}/${file}`, file, 'check', bodies.join('\n'))));
      const lines = results.map((r) => `${r.status.toUpperCase().padEnd(15)} ${r.id.padEnd(28)} ${r.durationMs}ms  ${r.summary}${r.status === 'not-implemented' ? ` (would write: ${checkFiles(r.id, req.version).join(', ')})` : ''}`);
      await deps.ledger.append(evidence(req, `checks/${req.phase}`, `checks_${req.phase}_${req.version}.txt`, 'check', `${req.phase} checks of ${req.release} (run ${req.runId})\n\n${lines.join('\n')}\n`));
      return results;
    },

    async setCanaryWeight(req) {
      if (req.percent < 0 || req.percent > 100) throw ApplicationFailure.nonRetryable(`percent: ${req.percent} is outside 0..100`);
      if (req.dryRun) {
        const previous = dryRunWeights.get(req.release) ?? 0;
        dryRunWeights.set(req.release, req.percent);
        return { previous, current: req.percent, detail: 'dry run: weight recorded, router untouched' };
      }
      const written = await fence.write(req.release, req.generation, () => deps.router(req.traffic).setCanaryWeight(req.percent));
      if (written.superseded) {
        throw ApplicationFailure.nonRetryable(`weight ${req.percent}% (generation ${req.generation}) refused: generation ${fence.applied(req.release)} was applied after it`, 'WeightSuperseded');
      }
      deps.pipeline?.stageEntered(req.service, req.percent);
      return written.value;
    },

    async readCanaryWeight(req) {
      if (req.dryRun) return 0;
      return deps.router(req.traffic).currentCanaryWeight();
    },

    async evaluate(req) {
      // The queued evidence and the queries at once: a ledger outage must not hide what Prometheus says.
      const flushed = req.flush.length > 0 ? deps.ledger.appendMany(req.flush).then(() => null, (err: Error) => err) : Promise.resolve(null);
      const started = Date.now();
      const results = await Promise.all(req.queries.map((q) => deps.metrics.instant(q, new Date(), req.timeoutMs)));
      deps.pipeline?.evaluated((Date.now() - started) / 1000, results);
      const answers = Object.fromEntries(req.queries.map((q, i) => [q, results[i]!]));
      const failed = await flushed;
      if (failed) {
        // Not retried: the answers go back now, in the failure's details; the workflow keeps the records queued.
        throw ApplicationFailure.create({
          type: EVIDENCE_NOT_FLUSHED, nonRetryable: true, details: [answers],
          message: `the evidence ledger did not take ${req.flush.length} queued record(s): ${failed.message}`,
        });
      }
      return answers;
    },

    async queryRanges(req) {
      const results = await Promise.all(req.ranges.map((r) => deps.metrics.range(r.query, new Date(r.start), new Date(r.end), r.stepSeconds, req.timeoutMs)));
      return Object.fromEntries(req.ranges.map((r, i) => [r.key, results[i]!]));
    },

    ...createRollbackActivities(deps, dryRunWeights, fence),
    ...createStageHealthActivities(deps),

    ...createNotifyActivities(deps),
  });
}
