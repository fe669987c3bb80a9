// The activities a release calls, as the workflow sees them.
import type { InstantResult, RangeResult } from '../adapters/metrics/provider';
import type { EvidenceInput } from '../adapters/ledger/ledger';
import type { TrafficConfig, WeightChange } from '../adapters/traffic/router';
import type { WorkerAllowances } from '../workflows/allowed';
import type { CheckPhase } from '../plan/catalogue';
import type { CheckResult } from '../workflows/messages';
import type { RitualPlan } from '../ritual/plan';
import type { TargetContext } from '../plan/target';
import type { MessageRef } from '../adapters/chat/notifier';
import type { Prompt } from '../slack/blocks';
import type { StageHealthRequest } from './stage-health';

export interface ReleaseRef {
  release: string;
  runId: string;
  service: string;
  version: string;
}

/** What checks may need to know about the release, beyond the check list. */
export interface CheckContext {
  /** Golden-signal queries rendered for the stable track, by signal id (baseline, PromQL sanity). */
  signalQueries: Record<string, { query: string; scale: string; unit: string }>;
  traffic: TrafficConfig;
  initiator: string;
  commit?: string;
  /** The canary plan in words, for canary_plan_<v>.txt. */
  canaryPlan: string;
  limits: Record<string, number>;
  expectedTargets: Record<string, number>;
  /** Baseline values once known (for the green button's baseline record). */
  baseline?: Record<string, string | null>;
  /** The plan's ritual section: lock file, source directory, licence policy (SBOM, provenance). */
  ritual?: RitualPlan;
  /** The blind-spot checks' results once known (for the green button's blind-spot scan). */
  blindSpots?: CheckResult[];
  /** The plan's target section: URLs, database and pgBouncer env var names, probe settings. */
  target?: TargetContext;
}

export interface RunChecksRequest extends ReleaseRef {
  phase: CheckPhase;
  checks: string[];
  timeoutMs: number;
  context: CheckContext;
}

export interface CheckOutcome extends CheckResult {
  /** Machine-readable output some checks give back (the baseline's values). */
  data?: Record<string, string | null>;
}

export interface SetWeightRequest extends ReleaseRef {
  traffic: TrafficConfig;
  percent: number;
  dryRun: boolean;
  /** The release's increasing weight generation: an older write than the last applied is refused. */
  generation: number;
}

/** One range query of the canary-versus-stable comparison; times are ISO strings (workflow time). */
export interface RangeQuery {
  key: string;
  query: string;
  start: string;
  end: string;
  stepSeconds: number;
}

/**
 * The failure of an evaluation whose queries answered but whose queued evidence the ledger did
 * not take: not retried, its details hold the answers (the workflow keeps the records queued).
 */
export const EVIDENCE_NOT_FLUSHED = 'EvidenceNotFlushed';

export interface EvaluateRequest {
  queries: string[];
  timeoutMs: number;
  /** Evidence of the previous evaluation, written before querying (one activity per evaluation). */
  flush: EvidenceInput[];
}

export interface RollbackTrafficRequest extends ReleaseRef {
  traffic: TrafficConfig;
  dryRun: boolean;
  /** The plan's rollback.routerTimeout: bounds the router call and its read-back. */
  timeoutMs: number;
  /** Newer than every stage write of the release (see SetWeightRequest.generation). */
  generation: number;
}

export interface RollbackTrafficResult {
  /** What the router reads back (null when it cannot tell). */
  weightAfter: number | null;
  detail: string;
  at: string;
}

export interface RecordRollbackRequest extends ReleaseRef {
  reason: string;
  cause: string;
  stage: number | null;
  fromTraffic: number;
  /** Workflow time of the request, used in the evidence file names. */
  requestedAt: string;
  /** When the router was at 0% (rollbackTraffic's answer). */
  trafficAt: string;
  weightAfter: number | null;
  detail: string;
  /** The workflow's last evaluation before the rollback: the metrics before, with no new query. */
  before: { at: string; results: Record<string, InstantResult> } | null;
  queries: Record<string, string>;
  /** Per query of the after snapshot (the plan's metrics.queryTimeout). */
  timeoutMs: number;
  flush: EvidenceInput[];
}

export interface RollbackResult {
  evidence: string[];
  completedAt: string;
}

export interface AnnounceRequest extends ReleaseRef {
  channel: string;
  text: string;
  key: string;
  /** Posted as interactive Block Kit (GO/NO-GO, stage controls); `text` stays the fallback. */
  prompt?: Prompt;
  /** Replace this earlier message instead of posting a new one. */
  replace?: MessageRef;
}

export interface AnnounceResult {
  delivered: boolean;
  detail: string;
  /** False when the worker has no chat: the announcement is recorded in the evidence only. */
  configured?: boolean;
  message?: MessageRef;
}

export interface PageRequest extends ReleaseRef {
  reason: string;
  key: string;
  /** Default `page`; `escalation` for a gate that waited too long. */
  kind?: 'page' | 'escalation';
  /** People to reach (default: none named; the route decides). */
  to?: string[];
  /** The plan's pager route (default: the service). */
  route?: string;
}

export interface ReleaseActivities {
  recordEvidence(records: EvidenceInput[]): Promise<number>;
  runChecks(req: RunChecksRequest): Promise<CheckOutcome[]>;
  setCanaryWeight(req: SetWeightRequest): Promise<WeightChange>;
  readCanaryWeight(req: { traffic: TrafficConfig; dryRun: boolean }): Promise<number | null>;
  /** The names the worker's configuration allows (routers, URL prefixes, paths); the release's first activity. */
  workerAllowances(): Promise<WorkerAllowances>;
  evaluate(req: EvaluateRequest): Promise<Record<string, InstantResult>>;
  /** Range queries by key; like `evaluate`, never throws for a query or transport error. */
  queryRanges(req: { ranges: RangeQuery[]; timeoutMs?: number }): Promise<Record<string, RangeResult>>;
  /** Traffic first: the canary to 0% and read back; no Prometheus, no ledger on this path. */
  rollbackTraffic(req: RollbackTrafficRequest): Promise<RollbackTrafficResult>;
  /** The rollback's evidence, after traffic is at 0%. */
  recordRollback(req: RecordRollbackRequest): Promise<RollbackResult>;
  /** db_health_stage_<pct>.txt and pgbouncer_stage_<pct>.txt; a failed reading is written as failed. */
  recordStageHealth(req: StageHealthRequest): Promise<string[]>;
  /** Never fails for a chat outage: the delivery (or why not) is recorded in the evidence. */
  announce(req: AnnounceRequest): Promise<AnnounceResult>;
  page(req: PageRequest): Promise<AnnounceResult>;
}
