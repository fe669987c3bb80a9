// The activities a release calls, as the workflow sees them.
import type { InstantResult } from '../adapters/metrics/provider';
import type { EvidenceInput } from '../adapters/ledger/ledger';
import type { TrafficConfig, WeightChange } from '../adapters/traffic/router';
import type { CheckPhase } from '../plan/catalogue';
import type { CheckResult } from '../workflows/messages';

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
}

export interface EvaluateRequest {
  queries: string[];
  timeoutMs: number;
  /** Evidence of the previous evaluation, written before querying (one activity per evaluation). */
  flush: EvidenceInput[];
}

export interface RollbackRequest extends ReleaseRef {
  traffic: TrafficConfig;
  dryRun: boolean;
  reason: string;
  cause: string;
  stage: number | null;
  fromTraffic: number;
  /** Workflow time of the request, used in the evidence file names. */
  requestedAt: string;
  queries: Record<string, string>;
  timeoutMs: number;
  flush: EvidenceInput[];
}

export interface RollbackResult {
  evidence: string[];
  weightAfter: number | null;
  completedAt: string;
}

export interface AnnounceRequest extends ReleaseRef {
  channel: string;
  text: string;
  key: string;
}

export interface ReleaseActivities {
  recordEvidence(records: EvidenceInput[]): Promise<number>;
  runChecks(req: RunChecksRequest): Promise<CheckOutcome[]>;
  setCanaryWeight(req: SetWeightRequest): Promise<WeightChange>;
  readCanaryWeight(req: { traffic: TrafficConfig; dryRun: boolean }): Promise<number | null>;
  evaluate(req: EvaluateRequest): Promise<Record<string, InstantResult>>;
  rollback(req: RollbackRequest): Promise<RollbackResult>;
  announce(req: AnnounceRequest): Promise<void>;
  page(req: ReleaseRef & { reason: string; key: string }): Promise<void>;
}
