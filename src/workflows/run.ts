// The state of one release run and the few verbs every phase uses. Plain
// variables only: the status query reads them, replay rebuilds them.
import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { InstantResult } from '../adapters/metrics/provider';
import type { EvidenceInput } from '../adapters/ledger/ledger';
import { EVIDENCE_NOT_FLUSHED, type AnnounceResult, type ReleaseActivities } from '../activities/types';
import type { MessageRef } from '../adapters/chat/notifier';
import type { Prompt } from '../slack/blocks';
import type { ReleasePlan } from '../plan/schema';
import { PHASES } from '../plan/vocabulary';
import { targetContext } from '../plan/target';
import type { ControlInput, ReleaseStatus, RollbackRecord } from './messages';
import { renderCanaryQueries } from './canary-judgment';
import { withSummaries } from './visibility';

export interface ReleaseInput {
  plan: ReleasePlan;
  /** Who started the release; may not approve its gates unless the plan allows it. */
  initiator: string;
  /** Rehearsal: every check and evaluation runs, the router only records weights. */
  dryRun?: boolean;
  /** The namespace has the Spark* search attributes (the client checked); only then are they set. */
  searchAttributes?: boolean;
}

const WARROOM_LINES_KEPT = 30;
/** Room for the activity's own work around its two bounded router calls. */
const ROLLBACK_MARGIN_MS = 5_000;
/**
 * Every activity heartbeats each second (src/activities/heartbeat.ts): one lost with a crashed
 * worker is retried this long after its last heartbeat, not after its start-to-close timeout.
 */
export const HEARTBEAT_TIMEOUT_MS = 5_000;

/** The answers of an evaluation that failed only because the ledger did not take its queued evidence, or null. */
export function answeredDespiteLedger(err: ActivityFailure): Record<string, InstantResult> | null {
  const cause = err.cause;
  if (!(cause instanceof ApplicationFailure) || cause.type !== EVIDENCE_NOT_FLUSHED) return null;
  return (cause.details?.[0] as Record<string, InstantResult> | undefined) ?? null;
}

export class ReleaseRun {
  readonly status: ReleaseStatus;
  readonly ref: { release: string; runId: string; service: string; version: string };
  baseline: Record<string, string | null> = {};
  abortRequested: ControlInput | null = null;
  holdRequested: ControlInput | null = null;
  /** The incident commander's (or a delegate's) canary controls, taken by the stage loop. */
  rollbackRequested: ControlInput | null = null;
  promoteRequested: ControlInput | null = null;
  /** Publishes the current details and search attributes now (the release's last task). */
  publishVisibility: () => void = () => undefined;
  /** The last evaluation's answers: a rollback's "metrics before", with no query on its path. */
  lastEvaluation: { at: string; results: Record<string, InstantResult> } | null = null;
  /** The last evaluation answered but the ledger did not take the evidence queued with it. */
  evidenceBehind = false;
  /** Increases with every weight change: the router refuses a write older than the newest. */
  private weightGeneration = 0;
  private pending: EvidenceInput[] = [];
  private readonly acts: ReleaseActivities;
  private readonly rollbackActs: ReleaseActivities;
  private readonly evidenceActs: ReleaseActivities;

  constructor(readonly plan: ReleasePlan, readonly input: ReleaseInput) {
    const info = workflowInfo();
    this.ref = { release: info.workflowId, runId: info.runId, service: plan.service, version: plan.version };
    this.acts = withSummaries(proxyActivities<ReleaseActivities>({
      startToCloseTimeout: plan.checks.timeout + 30_000,
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
    }), () => this.status);
    // Rollback is compensation: it retries until it succeeds. The router call itself is bounded by the plan.
    this.rollbackActs = withSummaries(proxyActivities<ReleaseActivities>({
      startToCloseTimeout: plan.rollback.routerTimeout * 2 + ROLLBACK_MARGIN_MS,
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s' }, // no attempt limit
    }), () => this.status);
    // Evidence the release owes (the rollback's, the close-out's): retried until the ledger is back.
    this.evidenceActs = withSummaries(proxyActivities<ReleaseActivities>({
      startToCloseTimeout: plan.metrics.queryTimeout + 30_000,
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' }, // no attempt limit
    }), () => this.status);
    this.status = {
      release: info.workflowId,
      runId: info.runId,
      service: plan.service,
      version: plan.version,
      initiator: input.initiator,
      incidentCommander: plan.incidentCommander,
      phase: 'freeze',
      phases: PHASES.map((phase) => ({ phase, state: 'pending' })),
      stage: null,
      stages: [],
      canaryWeight: 0,
      held: false,
      paged: false,
      signals: [],
      triggers: [],
      gates: {
        go: {
          id: 'go', state: 'pending', approvers: plan.gates.go.approvers, quorum: plan.gates.go.quorum,
          checklist: [], decisions: [],
        },
      },
      decisions: [],
      checks: [],
      warroom: [],
      verdict: 'running',
      rollback: null,
      dryRun: input.dryRun ?? false,
    };
  }

  get activities(): ReleaseActivities {
    return this.acts;
  }

  /** Queues an evidence record; it is written with the next activity call or flush. */
  record(input: Omit<EvidenceInput, 'release' | 'runId'>): void {
    this.pending.push({ ...input, release: this.ref.release, runId: this.ref.runId });
  }

  /** Queues records made elsewhere for this run (the first night's, handed back with its rollback). */
  queue(records: EvidenceInput[]): void {
    this.pending.push(...records);
  }

  takePending(): EvidenceInput[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /**
   * Writes the queued evidence. A ledger outage does not stop the release: the records stay
   * queued for the next write, and `mustLand` (the end of a release) waits until the ledger is back.
   */
  async flush(opts: { mustLand?: boolean } = {}): Promise<void> {
    const records = this.takePending();
    if (records.length === 0) return;
    try {
      await (opts.mustLand ? this.evidenceActs : this.acts).recordEvidence(records);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      this.pending = [...records, ...this.pending];
    }
  }

  warRoom(line: string, key: string): void {
    this.status.warroom = [...this.status.warroom, line].slice(-WARROOM_LINES_KEPT);
    this.record({ key: `warroom/${key}`, file: 'warroom_log.txt', kind: 'warroom', mode: 'append', body: line });
  }

  timeline(text: string, key: string): void {
    this.record({ key: `timeline/${key}`, file: `timeline_${this.plan.version}.txt`, kind: 'phase', mode: 'append', body: `${new Date().toISOString()} ${text}` });
  }

  async setWeight(percent: number, stageIndex: number | null): Promise<void> {
    const change = await this.acts.setCanaryWeight({
      ...this.ref, traffic: this.plan.traffic, percent, dryRun: this.status.dryRun, generation: ++this.weightGeneration,
    });
    this.status.canaryWeight = percent;
    this.record({
      key: `weight/${stageIndex ?? 'x'}/${percent}`,
      file: `rollout_stage_${percent}.txt`,
      kind: 'stage',
      body: [
        `release: ${this.ref.release} (run ${this.ref.runId})`,
        `at: ${new Date().toISOString()}`,
        `stage: ${stageIndex === null ? '-' : stageIndex + 1}`,
        `canary weight: ${change.previous ?? 'unknown'}% -> ${change.current}%`,
        `router: ${this.plan.traffic.router}${this.status.dryRun ? ' (dry run: recorded only)' : ''}`,
        `detail: ${change.detail}`,
      ].join('\n') + '\n',
    });    if (percent > 0 && stageIndex !== null) await this.recordStageHealth(percent, stageIndex + 1);
  }

  /** The stage's database evidence; a failed activity is noted and the stage goes on. */
  private async recordStageHealth(percent: number, stage: number): Promise<void> {
    try {
      await this.acts.recordStageHealth({ ...this.ref, percent, stage, target: targetContext(this.plan), timeoutMs: this.plan.checks.timeout });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      this.record({ key: `stage/${stage}/db-health/failed`, file: `db_health_stage_${percent}.txt`, kind: 'measurement', body: `reading failed after its retries: ${err.cause?.message ?? err.message}\n` });
    }
  }

  /** One evaluation; an activity failure becomes a query error for every query, never a pass. */
  async evaluate(queries: string[]): Promise<Record<string, InstantResult>> {
    const flush = this.takePending();
    try {
      const results = await this.acts.evaluate({ queries, timeoutMs: this.plan.metrics.queryTimeout, flush });
      this.evidenceBehind = false;
      this.lastEvaluation = { at: new Date().toISOString(), results };
      return results;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      this.pending = [...flush, ...this.pending];
      const answered = answeredDespiteLedger(err);
      if (answered) {
        this.evidenceBehind = true;
        this.lastEvaluation = { at: new Date().toISOString(), results: answered };
        return answered;
      }
      const at = new Date().toISOString();
      const message = `evaluation failed: ${err.cause?.message ?? err.message}`;
      return Object.fromEntries(queries.map((q) => [q, { kind: 'query-error', message, resolvedQuery: q, at } as InstantResult]));
    }
  }

  /** A human asked the stage loop for something: it wakes from its wait. */
  humanInterrupt(): boolean {
    return this.abortRequested !== null || this.rollbackRequested !== null || this.promoteRequested !== null || this.holdRequested !== null;
  }

  /** Pages the incident commander (or `to`) through the pager on the plan's route. */
  async page(reason: string, key: string, opts: { kind?: 'page' | 'escalation'; to?: string[] } = {}): Promise<AnnounceResult> {
    if ((opts.kind ?? 'page') === 'page') this.status.paged = true;
    const to = opts.to ?? [this.status.incidentCommander];
    try {
      return await this.acts.page({
        ...this.ref, reason, key: `page/${key}`, kind: opts.kind ?? 'page',
        to, route: this.plan.pager.route ?? this.plan.service,
      });
    } catch (err) {
      return this.unrecorded(err, `page/${key}`, 'pages.txt', `${opts.kind ?? 'page'} to ${to.join(', ')}: ${reason}`);
    }
  }

  /**
   * A page or announcement whose activity failed after its retries (its evidence write, when the
   * database is away): the release goes on, and the failure is queued as evidence for the next
   * activity that reaches the ledger. Any other error is the workflow's own and is rethrown.
   */
  private unrecorded(err: unknown, key: string, file: string, what: string): AnnounceResult {
    if (!(err instanceof ActivityFailure)) throw err;
    const detail = `delivery unknown: the activity failed after its retries (${err.cause?.message ?? err.message})`;
    this.record({ key: `${key}/failed`, file, kind: 'note', mode: 'append', body: `${new Date().toISOString()} ${what}\n  -> ${detail}` });
    return { delivered: false, detail };
  }

  async announce(channel: 'deploys' | 'warRoom', text: string, key: string, opts: { prompt?: Prompt; replace?: MessageRef } = {}): Promise<AnnounceResult> {
    const name = channel === 'deploys'
      ? this.plan.notifications.deploysChannel
      : this.plan.notifications.warRoomChannel.replaceAll('{version}', this.plan.version.replaceAll('.', '-'));
    try {
      return await this.acts.announce({ ...this.ref, channel: name, text, key: `announce/${key}`, ...opts });
    } catch (err) {
      return this.unrecorded(err, `announce/${key}`, 'announcements.txt', `${name} ${text}`);
    }
  }

  /** The one rollback path: abort, cancellation, a failing stage and a first-night breach all end here. */
  async rollback(reason: string, cause: string): Promise<RollbackRecord> {
    const requestedAt = new Date().toISOString();
    const record: RollbackRecord = {
      reason, cause, stage: this.status.stage ? this.status.stage.index + 1 : null,
      fromTraffic: this.status.canaryWeight, requestedAt, evidence: [],
    };
    this.status.rollback = record;
    const ref = { ...this.ref, dryRun: this.status.dryRun };
    const traffic = await this.rollbackActs.rollbackTraffic({
      ...ref, traffic: this.plan.traffic, timeoutMs: this.plan.rollback.routerTimeout, generation: ++this.weightGeneration,
    });
    this.status.canaryWeight = traffic.weightAfter ?? 0;
    record.trafficAt = traffic.at;
    const result = await this.evidenceActs.recordRollback({
      ...this.ref, reason, cause, stage: record.stage, fromTraffic: record.fromTraffic, requestedAt,
      trafficAt: traffic.at, weightAfter: traffic.weightAfter, detail: traffic.detail, before: this.lastEvaluation,
      queries: renderCanaryQueries(this.plan, 'canary').byId, timeoutMs: this.plan.metrics.queryTimeout, flush: this.takePending(),
    });
    record.completedAt = result.completedAt;
    record.evidence = result.evidence;
    return record;
  }
}
