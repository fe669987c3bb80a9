// Rollback in two activities, traffic first: `rollbackTraffic` sets the canary to 0% with one
// router call and reads it back, bounded by the plan's router timeout; `recordRollback` writes
// the evidence afterwards. Prometheus is never on the path to 0%: the metrics before are the
// workflow's last evaluation, the metrics after a bounded, best-effort snapshot.
import { log } from '@temporalio/activity';
import type { EvidenceInput, EvidenceLedger } from '../adapters/ledger/ledger';
import { EvidenceConflictError, EvidenceInputError } from '../adapters/ledger/postgres';
import type { InstantResult, MetricsProvider } from '../adapters/metrics/provider';
import type { TrafficConfig, TrafficRouter } from '../adapters/traffic/router';
import type { PipelineMetrics } from '../metrics/pipeline';
import type { RecordRollbackRequest, RollbackResult, RollbackTrafficRequest, RollbackTrafficResult } from './types';
import type { WeightFence } from './weight-fence';

export interface RollbackDeps {
  ledger: EvidenceLedger;
  metrics: MetricsProvider;
  router(config: TrafficConfig): TrafficRouter;
  pipeline?: PipelineMetrics;
}

/** Compact UTC stamp for evidence file names: 20261121T104500Z. */
export function fileStamp(iso: string): string {
  return iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export function rollbackFiles(requestedAt: string): { record: string; before: string; after: string } {
  const stamp = fileStamp(requestedAt);
  return { record: `rollback_${stamp}.txt`, before: `metrics_before_rollback_${stamp}.txt`, after: `metrics_after_rollback_${stamp}.txt` };
}

/** Rejects after `ms`; the router call it races is abandoned, and the activity's retry calls again. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(result: InstantResult | undefined): string {
  if (!result) return 'not measured';
  switch (result.kind) {
    case 'value': return `${result.value} (at ${result.at})`;
    case 'no-data': return `no data (${result.reason}, at ${result.at})`;
    case 'query-error': return `query error: ${result.message}`;
  }
}

function snapshotBody(title: string, queries: Record<string, string>, results: Record<string, InstantResult> | null, note: string): string {
  const lines = [title, note, ''];
  for (const [id, query] of Object.entries(queries)) lines.push(`${id}: ${describe(results?.[query])}`);
  return lines.join('\n') + '\n';
}

/**
 * The rollback's evidence, after the queued records. A queued record the ledger can
 * never take (a conflicting key, a bad name) must not hold the rollback up: the
 * rollback's own records go in, then each queued one alone, a refused one replaced
 * by a note saying why.
 */
async function appendAfterRollback(ledger: EvidenceLedger, ref: { release: string; runId: string }, queued: EvidenceInput[], own: EvidenceInput[]): Promise<void> {
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
      return ledger.append({
        release: ref.release, runId: ref.runId, key: `refused/${own[0]!.key}/${i}`, file: 'evidence_refused.txt', kind: 'note', mode: 'append',
        body: `a queued record (${JSON.stringify(record.key)}, file ${JSON.stringify(record.file)}) could not be recorded: ${err.message}`,
      });
    });
  }
}

export function createRollbackActivities(deps: RollbackDeps, dryRunWeights: Map<string, number>, fence: WeightFence) {
  return {
    async rollbackTraffic(req: RollbackTrafficRequest): Promise<RollbackTrafficResult> {
      if (req.dryRun) {
        dryRunWeights.set(req.release, 0);
        return { weightAfter: 0, detail: 'dry run: weight 0 recorded, router untouched', at: new Date().toISOString() };
      }
      const router = deps.router(req.traffic);
      const toZero = () => within(req.timeoutMs, `setting the canary weight to 0% through the ${router.kind} router`, router.setCanaryWeight(0));
      const older = fence.inflight(req.release);
      const written = await fence.write(req.release, req.generation, toZero);
      if (written.superseded) throw new Error(`weight generation ${req.generation} is older than ${fence.applied(req.release)}: a newer rollback ran`);
      let change = written.value;
      if (older.length > 0) {
        // An older stage write may land after our 0%: wait for it (bounded), then set 0% again.
        await within(req.timeoutMs, 'older weight writes in flight', Promise.allSettled(older));
        change = await toZero();
        change = { ...change, detail: `${change.detail} (set again after ${older.length} older write(s) in flight)` };
      }
      const after = await within(req.timeoutMs, `reading the canary weight back from the ${router.kind} router`, router.currentCanaryWeight());
      if (after !== null && after !== 0) throw new Error(`router still reports ${after}% on the canary after setting 0%`);
      deps.pipeline?.stageEntered(req.service, 0);
      return { weightAfter: after, detail: change.detail, at: new Date().toISOString() };
    },

    async recordRollback(req: RecordRollbackRequest): Promise<RollbackResult> {
      const files = rollbackFiles(req.requestedAt);
      const queries = Object.values(req.queries);
      // Best effort and bounded: an unreachable Prometheus leaves "query error" lines, never a stuck rollback.
      const afterAt = new Date().toISOString();
      const measured = await Promise.all(queries.map((q) => deps.metrics.instant(q, new Date(), req.timeoutMs)));
      const after = Object.fromEntries(queries.map((q, i) => [q, measured[i]!]));
      const evidence = (key: string, file: string, body: string): EvidenceInput => ({
        release: req.release, runId: req.runId, key: `rollback/${fileStamp(req.requestedAt)}/${key}`, file, kind: 'rollback', mode: 'replace', body,
      });
      await appendAfterRollback(deps.ledger, req, req.flush, [
        evidence('before', files.before, snapshotBody(
          `metrics before the rollback of ${req.release} (run ${req.runId})`, req.queries, req.before?.results ?? null,
          req.before ? `from the last evaluation, at ${req.before.at}` : 'no evaluation had run before the rollback',
        )),
        evidence('record', files.record, [
          `release: ${req.release} (run ${req.runId})`,
          `requested: ${req.requestedAt}`,
          `traffic at 0%: ${req.trafficAt}`,
          `stage: ${req.stage ?? '-'} (canary at ${req.fromTraffic}%)`,
          `cause: ${req.cause}`,
          `reason: ${req.reason}`,
          `canary weight after: ${req.weightAfter ?? 'unknown (the router cannot read back)'}%`,
          `router: ${req.detail}`,
        ].join('\n') + '\n'),
        evidence('after', files.after, snapshotBody(
          `metrics after the rollback of ${req.release} (run ${req.runId})`, req.queries, after, `measured from ${afterAt}, after traffic was at 0%`,
        )),
      ]);
      log.warn('rollback recorded', { release: req.release, cause: req.cause });
      deps.pipeline?.rolledBack(req.service, req.cause);
      return { evidence: [files.record, files.before, files.after], completedAt: new Date().toISOString() };
    },
  };
}
