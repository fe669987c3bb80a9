// Every message a human (CLI, Slack, Temporal UI) can send a release, and the
// status it can read. Shared by the workflow and the clients.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Phase } from '../plan/schema';
import type { SignalEvaluation, TriggerEvaluation } from './decide';

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
  kind: 'gate' | 'abort' | 'hold' | 'resume' | 'timeout';
  gate?: GateId;
  decision?: GateDecision;
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
}

export type Verdict = 'running' | 'released' | 'rolled-back' | 'no-go' | 'aborted';

export interface RollbackRecord {
  reason: string;
  cause: string;
  stage: number | null;
  fromTraffic: number;
  requestedAt: string;
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
  gates: Record<GateId, GateState>;
  decisions: DecisionRecord[];
  checks: CheckResult[];
  warroom: string[];
  verdict: Verdict;
  rollback: RollbackRecord | null;
  dryRun: boolean;
}

export const decideGateUpdate = defineUpdate<GateDecisionResult, [GateDecisionInput]>('decideGate');
export const abortSignal = defineSignal<[ControlInput]>('abort');
export const holdSignal = defineSignal<[ControlInput]>('hold');
export const resumeSignal = defineSignal<[ControlInput]>('resume');
export const statusQuery = defineQuery<ReleaseStatus>('status');
