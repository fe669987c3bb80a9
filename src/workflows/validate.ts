// Synchronous checks of what humans send a release. They run in update
// validators (a refusal writes nothing to history) and in the CLI and Slack
// receiver before anything is sent, so every edge refuses the same way.
import type { ReleasePlan } from '../plan/schema';
import type { CanaryControlAction, CanaryControlInput, ControlInput, GateDecisionInput, GateId, HandOverInput, ReleaseStatus } from './messages';

export const MAX_REASON_LENGTH = 2000;
const GATES: GateId[] = ['go'];

export class RefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

function field(obj: Record<string, unknown>, name: string, kind: 'string' | 'boolean', optional = false): unknown {
  const value = obj[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== kind) throw new RefusedError(`${name}: must be a ${kind}${value === undefined ? ' (missing)' : ''}`);
  return value;
}

function reasonOf(obj: Record<string, unknown>): string {
  const reason = (field(obj, 'reason', 'string') as string).trim();
  if (reason === '') throw new RefusedError('reason: must say why');
  if (reason.length > MAX_REASON_LENGTH) throw new RefusedError(`reason: longer than ${MAX_REASON_LENGTH} characters`);
  return reason;
}

function asObject(input: unknown, what: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new RefusedError(`${what}: must be an object`);
  return input as Record<string, unknown>;
}

/** Shape of a gate decision, before it is matched against a release. */
export function parseGateDecision(input: unknown): GateDecisionInput {
  const obj = asObject(input, 'decision');
  noUnknownFields(obj, ['release', 'runId', 'gate', 'decision', 'approver', 'reason', 'override']);
  const gate = field(obj, 'gate', 'string') as string;
  if (!GATES.includes(gate as GateId)) throw new RefusedError(`gate: unknown gate "${gate}" (known: ${GATES.join(', ')})`);
  const decision = field(obj, 'decision', 'string') as string;
  if (decision !== 'go' && decision !== 'no-go') throw new RefusedError(`decision: must be "go" or "no-go", not "${decision}"`);
  const release = field(obj, 'release', 'string') as string;
  const runId = field(obj, 'runId', 'string') as string;
  const approver = (field(obj, 'approver', 'string') as string).trim();
  if (approver === '') throw new RefusedError('approver: must name a person');
  return {
    release,
    runId,
    gate: gate as GateId,
    decision,
    approver,
    reason: reasonOf(obj),
    override: field(obj, 'override', 'boolean', true) as boolean | undefined,
  };
}

export function parseControl(input: unknown): ControlInput {
  const obj = asObject(input, 'control');
  const by = (field(obj, 'by', 'string') as string).trim();
  if (by === '') throw new RefusedError('by: must name a person');
  return { by, reason: reasonOf(obj) };
}

export interface GateContext {
  release: string;
  runId: string;
  openGate: GateId | null;
  approvers: string[];
  initiator: string;
  allowInitiator: boolean;
  alreadyDecidedBy: string[];
  checklistComplete: boolean;
}

/** Binds a decision to this release, run and open gate, and to an allowed person. */
export function checkGateDecision(d: GateDecisionInput, ctx: GateContext): void {
  if (d.release !== ctx.release) throw new RefusedError(`release: this is ${ctx.release}, not ${d.release}`);
  if (d.runId !== ctx.runId) throw new RefusedError(`runId: the decision is for run ${d.runId}, but this release's run is ${ctx.runId}`);
  if (ctx.openGate !== d.gate) {
    throw new RefusedError(`gate: "${d.gate}" is not open${ctx.openGate ? ` (open: ${ctx.openGate})` : ' (no gate is open now)'}`);
  }
  if (!ctx.approvers.includes(d.approver)) {
    throw new RefusedError(`approver: "${d.approver}" may not decide gate ${d.gate} (approvers: ${ctx.approvers.join(', ')})`);
  }
  if (!ctx.allowInitiator && d.approver === ctx.initiator) {
    throw new RefusedError(`approver: "${d.approver}" started this release and may not approve it`);
  }
  if (ctx.alreadyDecidedBy.includes(d.approver)) throw new RefusedError(`approver: "${d.approver}" has already decided gate ${d.gate}`);
  if (d.decision === 'go' && !ctx.checklistComplete && !d.override) {
    throw new RefusedError('decision: the GO checklist is not 10/10; GO needs override: true and a reason saying why');
  }
}

function noUnknownFields(obj: Record<string, unknown>, known: string[]): void {
  const extra = Object.keys(obj).find((k) => !known.includes(k));
  if (extra) throw new RefusedError(`${extra}: unknown field`);
}

function person(obj: Record<string, unknown>, name: string): string {
  const value = (field(obj, name, 'string') as string).trim();
  if (value === '') throw new RefusedError(`${name}: must name a person`);
  return value;
}

export function parseCanaryControl(input: unknown): CanaryControlInput {
  const obj = asObject(input, 'control');
  noUnknownFields(obj, ['release', 'runId', 'by', 'reason', 'stage']);
  const stage = obj.stage;
  if (stage !== undefined && !(typeof stage === 'number' && Number.isInteger(stage) && stage >= 1)) {
    throw new RefusedError('stage: must be a stage number (1, 2, ...)');
  }
  return {
    release: field(obj, 'release', 'string') as string,
    runId: field(obj, 'runId', 'string') as string,
    by: person(obj, 'by'),
    reason: reasonOf(obj),
    ...(stage !== undefined ? { stage: stage as number } : {}),
  };
}

export function parseHandOver(input: unknown): HandOverInput {
  const obj = asObject(input, 'hand-over');
  noUnknownFields(obj, ['release', 'runId', 'by', 'to', 'reason']);
  return {
    release: field(obj, 'release', 'string') as string,
    runId: field(obj, 'runId', 'string') as string,
    by: person(obj, 'by'),
    to: person(obj, 'to'),
    reason: reasonOf(obj),
  };
}

/** What the war-room's controls are checked against. */
export interface CommandContext {
  release: string;
  runId: string;
  ended: string | null;
  people: string[];
  commander: string;
  delegates: string[];
  /** The running canary stage (1-based), or null outside the canary. */
  stage: number | null;
  phase: string;
  held: boolean;
}

/** The context of a release as its status shows it; `rollingBack` when a rollback was asked for but has not started. */
export function commandContextOf(status: ReleaseStatus, plan: Pick<ReleasePlan, 'people' | 'delegates'>, rollingBack = false): CommandContext {
  const live = status.stage !== null && ['running', 'holding', 'paused'].includes(status.stage.state);
  const ended = status.verdict !== 'running' ? status.verdict : rollingBack || status.rollback !== null ? 'rolling back' : null;
  return {
    release: status.release,
    runId: status.runId,
    ended,
    people: plan.people.map((p) => p.id),
    commander: status.incidentCommander,
    delegates: plan.delegates,
    stage: status.phase === 'canary' && live ? status.stage!.index + 1 : null,
    phase: status.phase,
    held: status.held,
  };
}

function checkBinding(d: { release: string; runId: string }, ctx: CommandContext): void {
  if (d.release !== ctx.release) throw new RefusedError(`release: this is ${ctx.release}, not ${d.release}`);
  if (d.runId !== ctx.runId) throw new RefusedError(`runId: the control is for run ${d.runId}, but this release's run is ${ctx.runId}`);
  if (ctx.ended) throw new RefusedError(`the release is not running any more (${ctx.ended})`);
}

/** The incident commander, or one of the plan's delegates, and nobody else. */
export function checkCommander(by: string, what: string, ctx: CommandContext): void {
  if (by === ctx.commander || ctx.delegates.includes(by)) return;
  const delegates = ctx.delegates.length ? ` or a delegate (${ctx.delegates.join(', ')})` : '';
  throw new RefusedError(`by: "${by}" may not ${what}: only the incident commander (${ctx.commander})${delegates} may`);
}

const ACTION_WORDS: Record<CanaryControlAction, string> = {
  hold: 'hold the canary', resume: 'resume the canary', promote: 'promote now', rollback: 'roll back',
};

export function checkCanaryControl(action: CanaryControlAction, c: CanaryControlInput, ctx: CommandContext): void {
  checkBinding(c, ctx);
  if (ctx.stage === null) throw new RefusedError(`phase: no canary stage is running (phase ${ctx.phase}); ${action} applies during the canary`);
  checkCommander(c.by, ACTION_WORDS[action], ctx);
  if (c.stage !== undefined && c.stage !== ctx.stage) {
    throw new RefusedError(`stage: this control is for stage ${c.stage}, but stage ${ctx.stage} is running now`);
  }
  if (action === 'hold' && ctx.held) throw new RefusedError(`hold: stage ${ctx.stage} is already held`);
  if (action === 'resume' && !ctx.held) throw new RefusedError(`resume: stage ${ctx.stage} is not held`);
  if (action === 'promote' && ctx.held) throw new RefusedError(`promote: stage ${ctx.stage} is held; resume it first`);
}

/** The commander (or a delegate taking over) hands the war-room to another person of the plan. */
export function checkHandOver(h: HandOverInput, ctx: CommandContext): void {
  checkBinding(h, ctx);
  checkCommander(h.by, 'hand over the war-room', ctx);
  if (!ctx.people.includes(h.to)) throw new RefusedError(`to: "${h.to}" is not a person of this release's plan (people: ${ctx.people.join(', ')})`);
  if (h.to === ctx.commander) throw new RefusedError(`to: "${h.to}" is already the incident commander`);
}
