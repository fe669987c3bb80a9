// What must hold after any release, however often its worker died: pure checks
// over the facts a chaos run collects (the workflow's status and result, the
// router's weight history, the evidence ledger, the workflow history).
import { temporal } from '@temporalio/proto';
import type { ChainVerification, EvidenceRecord } from '../../../src/adapters/ledger/ledger';
import { fileStamp } from '../../../src/activities';
import type { ReleaseResult } from '../../../src/workflows/release';
import type { ReleaseStatus, Verdict } from '../../../src/workflows/messages';
import type { WeightChangeSeen } from './weight-recorder';

export const INVARIANTS = [
  'workflow-finishes',
  'traffic-within-verdicts',
  'no-promotion-after-failing-verdict',
  'rollback-completes',
  'evidence-chain-complete',
  'history-replays',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface Violation {
  release: string;
  invariant: Invariant;
  detail: string;
}

export interface ReleaseFacts {
  release: string;
  result: ReleaseResult | null;
  /** Why there is no result (timeout, failure), when there is none. */
  resultError?: string;
  status: ReleaseStatus | null;
  /** Weight changes the router accepted while this release ran. */
  weights: WeightChangeSeen[];
  routerWeightAtEnd: number | null;
  /** Highest canary weight the router's own gauge showed in Prometheus during the release. */
  scrapedMaxWeight: number | null;
  evidence: EvidenceRecord[];
  chain: ChainVerification;
  /** Workflow history events, for failed workflow tasks. */
  history: temporal.api.history.v1.IHistoryEvent[];
}

const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
/** Failed workflow tasks that are part of normal operation (a signal raced a completion). */
const BENIGN_TASK_FAILURES = new Set([WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE]);
const ENDED: Verdict[] = ['released', 'rolled-back', 'aborted', 'no-go'];

interface Measurement {
  seq: number;
  stage: number;
  evaluation: number;
  action: string;
  clean: boolean;
}

function measurements(evidence: EvidenceRecord[]): Measurement[] {
  const out: Measurement[] = [];
  for (const r of evidence) {
    const m = /^stage\/(\d+)\/measurements\/(\d+)$/.exec(r.key);
    if (!m) continue;
    const body = JSON.parse(r.body) as { action: string; clean: boolean };
    out.push({ seq: r.seq, stage: Number(m[1]), evaluation: Number(m[2]), action: body.action, clean: body.clean });
  }
  return out;
}

export function checkRelease(f: ReleaseFacts): Violation[] {
  const violations: Violation[] = [];
  const violate = (invariant: Invariant, detail: string) => violations.push({ release: f.release, invariant, detail });
  const s = f.status;

  // The workflow finishes, with a verdict, and its status agrees.
  if (!f.result) violate('workflow-finishes', `no result: ${f.resultError ?? 'unknown'}`);
  if (!s) {
    violate('workflow-finishes', 'no final status (query failed)');
    return violations;
  }
  if (f.result && (!ENDED.includes(f.result.verdict) || f.result.verdict !== s.verdict || s.phase !== 'done')) {
    violate('workflow-finishes', `result ${f.result.verdict}, status ${s.verdict} in phase ${s.phase}`);
  }

  // Traffic: only after GO, only a stage's weight once that stage was entered, and at the end what the verdict says.
  const gate = s.gates.go;
  const goAt = gate.state === 'go' && gate.closedAt ? Date.parse(gate.closedAt) : null;
  const stageMax = Math.max(0, ...s.stages.map((st) => st.traffic));
  for (const w of f.weights.filter((x) => x.current > 0)) {
    const stage = s.stages.find((st) => st.traffic === w.current);
    if (goAt === null) violate('traffic-within-verdicts', `router set to ${w.current}% although the GO gate ended ${gate.state}`);
    else if (w.at < goAt) violate('traffic-within-verdicts', `router set to ${w.current}% at ${new Date(w.at).toISOString()}, before GO at ${gate.closedAt}`);
    if (!stage) violate('traffic-within-verdicts', `router set to ${w.current}%, which no entered stage allows (stages: ${s.stages.map((st) => st.traffic).join(', ') || 'none'})`);
    else if (w.at < Date.parse(stage.startedAt)) violate('traffic-within-verdicts', `router set to ${w.current}% before stage ${stage.index + 1} started`);
  }
  if (f.scrapedMaxWeight !== null && f.scrapedMaxWeight > stageMax) {
    violate('traffic-within-verdicts', `the router's gauge showed ${f.scrapedMaxWeight}%, above the highest entered stage (${stageMax}%)`);
  }
  const finalWeight = s.verdict === 'released' ? 100 : 0;
  if (f.result && !s.dryRun && f.routerWeightAtEnd !== finalWeight) {
    violate('traffic-within-verdicts', `router at ${f.routerWeightAtEnd}% after a ${s.verdict} release (expected ${finalWeight}%)`);
  }

  // No promotion after a failing verdict, and none without a clean one.
  const ms = measurements(f.evidence);
  const failing = ms.find((m) => m.action === 'rollback');
  if (failing) {
    const later = f.evidence.filter((r) => r.seq > failing.seq && /^weight\/\d+\/[1-9]\d*$/.test(r.key));
    for (const r of later) violate('no-promotion-after-failing-verdict', `${r.key} recorded after the failing verdict of stage ${failing.stage} evaluation ${failing.evaluation}`);
    const beyond = s.stages.filter((st) => st.index + 1 > failing.stage);
    if (beyond.length) violate('no-promotion-after-failing-verdict', `stages ${beyond.map((st) => st.index + 1).join(', ')} entered after stage ${failing.stage} failed`);
  }
  if (s.rollback) {
    const requested = Date.parse(s.rollback.requestedAt);
    for (const w of f.weights.filter((x) => x.current > 0 && x.at > requested)) {
      violate('no-promotion-after-failing-verdict', `router set to ${w.current}% after the rollback was requested (${s.rollback.requestedAt})`);
    }
  }
  const promotedByHand = s.decisions.some((d) => d.kind === 'promote' && d.accepted);
  for (const st of s.stages.filter((x) => x.state === 'passed')) {
    const last = ms.filter((m) => m.stage === st.index + 1).at(-1);
    if (!promotedByHand && !(last && last.clean && last.action === 'continue')) {
      violate('no-promotion-after-failing-verdict', `stage ${st.index + 1} passed but its last evaluation was ${last ? `${last.action}, clean=${last.clean}` : 'not recorded'}`);
    }
  }

  // Every rollback completes: recorded as done, its evidence written, the router at 0.
  const everUp = f.weights.some((w) => w.current > 0);
  if ((s.verdict === 'rolled-back' || (s.verdict === 'aborted' && everUp)) && !s.rollback) {
    violate('rollback-completes', `verdict ${s.verdict} after traffic moved, but no rollback recorded`);
  }
  if (s.rollback) {
    if (!s.rollback.completedAt) violate('rollback-completes', `rollback requested at ${s.rollback.requestedAt} never completed`);
    const stamp = fileStamp(s.rollback.requestedAt);
    for (const part of ['before', 'record', 'after']) {
      if (!f.evidence.some((r) => r.key === `rollback/${stamp}/${part}`)) violate('rollback-completes', `evidence rollback/${stamp}/${part} missing`);
    }
    const lastChange = f.weights.at(-1);
    if (lastChange && lastChange.current !== 0) violate('rollback-completes', `the router's last change was to ${lastChange.current}%, not 0%`);
  }

  // The evidence chain verifies, and nothing the workflow decided is missing from it.
  if (!f.chain.ok) violate('evidence-chain-complete', `chain broken at seq ${f.chain.firstBroken?.seq}: ${f.chain.firstBroken?.problem} (${f.chain.firstBroken?.detail})`);
  if (f.chain.records !== f.evidence.length || f.evidence.length === 0) violate('evidence-chain-complete', `${f.chain.records} records verified of ${f.evidence.length} listed`);
  const keys = new Set<string>();
  for (const r of f.evidence) {
    if (keys.has(r.key)) violate('evidence-chain-complete', `key ${r.key} recorded twice`);
    keys.add(r.key);
  }
  for (const st of s.stages) {
    for (let k = 1; k <= st.evaluations; k++) {
      if (!keys.has(`stage/${st.index + 1}/measurements/${k}`)) violate('evidence-chain-complete', `stage ${st.index + 1} evaluation ${k} has no measurement record`);
    }
    if (!keys.has(`weight/${st.index}/${st.traffic}`) && !keys.has(`weight/${st.index}/${st.traffic}/failed`)) {
      violate('evidence-chain-complete', `stage ${st.index + 1} (${st.traffic}%) has no weight record`);
    }
  }
  if (f.result && !keys.has('verdict')) violate('evidence-chain-complete', 'no verdict record');

  // Recovery after a crash replays the history: no non-determinism or worker failure of a workflow task.
  for (const e of f.history) {
    if (e.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) continue;
    const cause = e.workflowTaskFailedEventAttributes?.cause ?? WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED;
    if (!BENIGN_TASK_FAILURES.has(cause)) {
      violate('history-replays', `workflow task failed at event ${e.eventId}: ${WorkflowTaskFailedCause[cause]}: ${e.workflowTaskFailedEventAttributes?.failure?.message ?? ''}`);
    }
  }
  return violations;
}
