// Every message a human (CLI, Slack, Temporal UI) can send a release, and the
// status it can read. Shared by the workflow and the clients.
import type { UpdateDefinition } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Phase, ReleasePlan, RemainingRisk } from '../plan/schema';
import type { AnchorResult } from '../activities/anchor';
import type { ScmOutcome } from '../activities/closeout';
import type { ComparisonEvaluation, SignalEvaluation, TriggerEvaluation } from './decide';
import type { FirstNightSummary } from './first-night';

export type GateId = 'go';
export type GateDecision = 'go' | 'no-go';

/** A gate decision is bound to a release, a run and a gate: a stale click cannot move another run. */
export interface GateDecisionInput {
  release: string;
  runId: string;
  gate: GateId;
  decision: GateDecision;
  approver: string;
  reason: string;
  /** GO below a full checklist needs this, with the reason saying why. */
  override?: boolean;
  /** When signed (src/identity/decision.ts): the time of signing and the approver's Ed25519 signature. */
  at?: string;
  signature?: string;
}

export interface GateDecisionResult {
  gate: GateId;
  state: GateState['state'];
  recorded: DecisionRecord;
}

/** Fire-and-forget controls; who and why are recorded, refusals too. */
export interface ControlInput {
  by: string;
  reason: string;
}

export interface DecisionRecord {
  kind: 'gate' | 'abort' | 'hold' | 'resume' | 'timeout' | 'promote' | 'rollback' | 'handover';
  gate?: GateId;
  /** Canary controls: the stage (1-based) that was running. */
  stage?: number;
  /** Hand-over: the new incident commander. */
  to?: string;
  decision?: GateDecision;
  /** A GO given with override: true (the checklist was below 10/10). */
  override?: boolean;
  /** The person's Ed25519 signature, when the worker's people registry requires one. */
  signature?: string;
  by: string;
  reason: string;
  at: string;
  release: string;
  runId: string;
  accepted: boolean;
  refusal?: string;
}

export interface ChecklistItem {
  item: string;
  ok: boolean;
  detail: string;
}

export interface GateState {
  id: GateId;
  state: 'pending' | 'open' | 'go' | 'no-go' | 'timed-out';
  openedAt?: string;
  closedAt?: string;
  deadline?: string;
  approvers: string[];
  quorum: number;
  checklist: ChecklistItem[];
  decisions: DecisionRecord[];
}

export type CheckStatus = 'pass' | 'fail' | 'error' | 'not-implemented' | 'timeout';

export interface CheckResult {
  id: string;
  phase: string;
  status: CheckStatus;
  summary: string;
  files: string[];
  durationMs: number;
}

export interface PhaseRecord {
  phase: Phase;
  state: 'pending' | 'running' | 'done' | 'failed' | 'skipped';
  startedAt?: string;
  endedAt?: string;
  summary?: string;
}

export interface StageRecord {
  index: number;
  traffic: number;
  state: 'running' | 'holding' | 'paused' | 'passed' | 'rolled-back';
  startedAt: string;
  endedAt?: string;
  evaluations: number;
  /** Signals that passed at the stage's last evaluation, e.g. 8 of 8. */
  passed: number;
  total: number;
  /** Last value of each signal in this stage. */
  values: Record<string, string>;
  /** Signals that lacked samples when the stage proceeded because the plan says proceed: promoted unmeasured. */
  unmeasured?: string[];
  /** Who ended the stage early with the promote command (their reason is in the decisions). */
  promotedBy?: string;
}

/** `released-unverified`: at 100%, but the first night lacked data past the plan's budget (no tag). */
export type Verdict = 'running' | 'released' | 'released-unverified' | 'rolled-back' | 'no-go' | 'aborted';

export interface RollbackRecord {
  reason: string;
  cause: string;
  stage: number | null;
  fromTraffic: number;
  requestedAt: string;
  /** When the router read back 0% (traffic first; the evidence follows). */
  trafficAt?: string;
  completedAt?: string;
  evidence: string[];
}

export interface ReleaseStatus {
  release: string;
  runId: string;
  service: string;
  version: string;
  initiator: string;
  incidentCommander: string;
  phase: Phase | 'done';
  phases: PhaseRecord[];
  stage: StageRecord | null;
  stages: StageRecord[];
  canaryWeight: number;
  held: boolean;
  paged: boolean;
  signals: SignalEvaluation[];
  triggers: TriggerEvaluation[];
  /** Canary versus stable at the last evaluation: each test's statistic, level and counts. */
  comparisons?: ComparisonEvaluation[];
  gates: Record<GateId, GateState>;
  decisions: DecisionRecord[];
  checks: CheckResult[];
  warroom: string[];
  verdict: Verdict;
  rollback: RollbackRecord | null;
  dryRun: boolean;
  /** The remaining risks the release notes carry: the plan's, or the last accepted setRisks. */
  risks?: RemainingRisk[];
  /** Freeze, freeze lift and tag, as the SCM adapters reported them. */
  scm?: ScmOutcome[];
  /** The ledger anchors, in order taken (GO/NO-GO, close-out, end), or why one was not taken. */
  anchors?: AnchorResult[];
  /** How the war-room's opening announcement went (the GO checklist's "war-room staffed"). */
  warRoomOpened?: { delivered: boolean; detail: string; configured?: boolean };
  /** The first-night watch, once it has ended. */
  firstNight?: FirstNightSummary;
  /** The red team's human items (src/workflows/redteam-gate.ts), once the red-team phase opened them. */
  redTeamGate?: { state: 'open' | 'closed'; deadline: string; items: RedTeamItemState[] };
}

/** Replaces the remaining risks before close-out; bound to a release and a run like a gate decision. */
export interface RisksInput {
  release: string;
  runId: string;
  by: string;
  reason: string;
  risks: RemainingRisk[];
}

export const decideGateUpdate = defineUpdate<GateDecisionResult, [GateDecisionInput]>('decideGate');
export const abortSignal = defineSignal<[ControlInput]>('abort');
export const holdSignal = defineSignal<[ControlInput]>('hold');
export const resumeSignal = defineSignal<[ControlInput]>('resume');
export const statusQuery = defineQuery<ReleaseStatus>('status');

/** Canary controls, the incident commander's (or a delegate's): updates, so a refusal is synchronous. */
export type CanaryControlAction = 'hold' | 'resume' | 'promote' | 'rollback';
export const CANARY_CONTROL_ACTIONS: CanaryControlAction[] = ['hold', 'resume', 'promote', 'rollback'];

/** Bound to a release and a run; from a Slack button also to the stage its message was posted for. */
export interface CanaryControlInput {
  release: string;
  runId: string;
  by: string;
  reason: string;
  /** 1-based; when given, the control is refused unless this stage is running. */
  stage?: number;
  /** When signed: over release, run, the action, the stage ("" when not given), who, why and when. */
  at?: string;
  signature?: string;
}

export interface HandOverInput {
  release: string;
  runId: string;
  by: string;
  to: string;
  reason: string;
  /** When signed: over release, run, "handover", the new commander, who, why and when. */
  at?: string;
  signature?: string;
}

export const canaryControlUpdates: Record<CanaryControlAction, UpdateDefinition<DecisionRecord, [CanaryControlInput]>> = {
  hold: defineUpdate('holdCanary'),
  resume: defineUpdate('resumeCanary'),
  promote: defineUpdate('promoteNow'),
  rollback: defineUpdate('rollbackNow'),
};
export const handOverUpdate = defineUpdate<DecisionRecord, [HandOverInput]>('handOver');
/** The plan the release runs (people, approvers, delegates): the Slack receiver maps users with it. */
export const planQuery = defineQuery<ReleasePlan>('plan');
export const setRisksUpdate = defineUpdate<RemainingRisk[], [RisksInput]>('setRisks');

/** A named person confirms (or declines) one red-team item a machine cannot check, e.g. the PITR cold start. */
export interface RedTeamConfirmInput {
  release: string;
  runId: string;
  item: string;
  by: string;
  confirmed: boolean;
  /** What was done and seen (the evidence a person gives). */
  note: string;
}

export interface RedTeamItemState {
  id: string;
  check: string;
  text: string;
  state: 'open' | 'confirmed' | 'declined' | 'timed-out';
  by?: string;
  at?: string;
  note?: string;
}

export const confirmRedTeamItemUpdate = defineUpdate<RedTeamItemState, [RedTeamConfirmInput]>('confirmRedTeamItem');
