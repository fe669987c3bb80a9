// Synchronous checks of what humans send a release. They run in update
// validators (a refusal writes nothing to history) and in the CLI and Slack
// receiver before anything is sent, so every edge refuses the same way.
import type { ReleasePlan } from '../plan/schema';
import type { CanaryControlAction, CanaryControlInput, ControlInput, GateDecisionInput, GateId, HandOverInput, RedTeamConfirmInput, ReleaseStatus } from './messages';

export const MAX_REASON_LENGTH = 2000;
/** Names: releases, runs, people, gates, items. */
export const MAX_NAME_LENGTH = 200;
const GATES: GateId[] = ['go'];

export class RefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

// One way to read what a person sends, for every signal and update: these small
// parsers (no schema library in the workflow bundle). A string is refused when it
// holds what PostgreSQL cannot store (NUL, lone surrogates) or what hides or
// rewrites text on a terminal (control and bidirectional-override characters).
const NOT_IN_A_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const NOT_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const LONE_SURROGATE = /\p{Cs}/u;
const ESCAPED = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|\p{Cs}/gu;

function hex(ch: string): string {
  return `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A value quoted for a refusal message: short, with anything unprintable spelled out. */
export function quote(value: unknown, max = 60): string {
  const s = String(value);
  const cut = s.length > max ? `${s.slice(0, max)}...` : s;
  return `"${cut.replace(ESCAPED, (ch) => `<${hex(ch)}>`)}"`;
}

/** The problem with a string a person sent, or null. Multiline text may hold tabs and line breaks. */
export function textProblem(value: string, max: number, multiline: boolean): string | null {
  if (value.length > max) return `longer than ${max} characters`;
  const lone = LONE_SURROGATE.exec(value);
  if (lone) return `holds a lone UTF-16 surrogate (${hex(lone[0])} at ${lone.index}); send well-formed Unicode`;
  const bad = (multiline ? NOT_IN_TEXT : NOT_IN_A_LINE).exec(value);
  if (bad) return `holds ${bad[0] === '\u0000' ? 'a NUL character' : 'a control character'} (${hex(bad[0])} at ${bad.index})`;
  return null;
}

/** Refuses anything but a plain object whose fields are all `known`. */
export function objectOf(input: unknown, what: string, known?: readonly string[], prefix = ''): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new RefusedError(`${what}: must be an object`);
  const obj = input as Record<string, unknown>;
  if (known) {
    const extra = Object.keys(obj).find((k) => !known.includes(k));
    if (extra !== undefined) throw new RefusedError(`${prefix}${quote(extra).slice(1, -1)}: unknown field`);
  }
  return obj;
}

interface TextRule {
  max?: number;
  multiline?: boolean;
  /** The refusal for an empty (or blank) value. */
  empty?: string;
  /** The field's name in refusals, when it is not `name` (e.g. risks[1].due). */
  label?: string;
}

/** A required string field, trimmed and checked. */
export function text(obj: Record<string, unknown>, name: string, rule: TextRule = {}): string {
  const value = obj[name];
  const label = rule.label ?? name;
  if (typeof value !== 'string') throw new RefusedError(`${label}: must be a string${value === undefined ? ' (missing)' : ''}`);
  const trimmed = value.trim();
  if (trimmed === '') throw new RefusedError(`${label}: ${rule.empty ?? 'must not be empty'}`);
  const problem = textProblem(trimmed, rule.max ?? MAX_NAME_LENGTH, rule.multiline ?? false);
  if (problem) throw new RefusedError(`${label}: ${problem}`);
  return trimmed;
}

function flag(obj: Record<string, unknown>, name: string, optional: boolean): boolean | undefined {
  const value = obj[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'boolean') throw new RefusedError(`${name}: must be a boolean${value === undefined ? ' (missing)' : ''}`);
  return value;
}

/** A reason (or note): why a person did it. */
export function reasonOf(obj: Record<string, unknown>, name = 'reason'): string {
  return text(obj, name, { max: MAX_REASON_LENGTH, multiline: true, empty: 'must say why' });
}

/** A person's name (an id of the plan's people). */
export function person(obj: Record<string, unknown>, name: string): string {
  return text(obj, name, { empty: 'must name a person' });
}

/** The time of signing and the signature of a signed decision (checked in src/workflows/identity.ts). */
function signatureOf(obj: Record<string, unknown>): { at?: string; signature?: string } {
  return {
    ...(obj.at !== undefined ? { at: text(obj, 'at', { max: 40 }) } : {}),
    ...(obj.signature !== undefined ? { signature: text(obj, 'signature', { max: 128 }) } : {}),
  };
}

/** Who a refused signal says sent it, safe to record whatever it holds. */
export function claimedSender(raw: unknown): string {
  const by = typeof raw === 'object' && raw !== null ? (raw as { by?: unknown }).by : undefined;
  if (typeof by !== 'string') return '(unknown)';
  return textProblem(by, MAX_NAME_LENGTH, false) === null ? by : quote(by, 40);
}

/** Shape of a gate decision, before it is matched against a release. */
export function parseGateDecision(input: unknown): GateDecisionInput {
  const obj = objectOf(input, 'decision', ['release', 'runId', 'gate', 'decision', 'approver', 'reason', 'override', 'at', 'signature']);
  const gate = text(obj, 'gate');
  if (!GATES.includes(gate as GateId)) throw new RefusedError(`gate: unknown gate ${quote(gate)} (known: ${GATES.join(', ')})`);
  const decision = text(obj, 'decision');
  if (decision !== 'go' && decision !== 'no-go') throw new RefusedError(`decision: must be "go" or "no-go", not ${quote(decision)}`);
  return {
    release: text(obj, 'release'),
    runId: text(obj, 'runId'),
    gate: gate as GateId,
    decision,
    approver: person(obj, 'approver'),
    reason: reasonOf(obj),
    override: flag(obj, 'override', true),
    ...signatureOf(obj),
  };
}

export function parseControl(input: unknown): ControlInput {
  const obj = objectOf(input, 'control', ['by', 'reason']);
  return { by: person(obj, 'by'), reason: reasonOf(obj) };
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

export function parseCanaryControl(input: unknown): CanaryControlInput {
  const obj = objectOf(input, 'control', ['release', 'runId', 'by', 'reason', 'stage', 'at', 'signature']);
  const stage = obj.stage;
  if (stage !== undefined && !(typeof stage === 'number' && Number.isInteger(stage) && stage >= 1)) {
    throw new RefusedError('stage: must be a stage number (1, 2, ...)');
  }
  return {
    release: text(obj, 'release'),
    runId: text(obj, 'runId'),
    by: person(obj, 'by'),
    reason: reasonOf(obj),
    ...(stage !== undefined ? { stage: stage as number } : {}),
    ...signatureOf(obj),
  };
}

export function parseHandOver(input: unknown): HandOverInput {
  const obj = objectOf(input, 'hand-over', ['release', 'runId', 'by', 'to', 'reason', 'at', 'signature']);
  return {
    release: text(obj, 'release'),
    runId: text(obj, 'runId'),
    by: person(obj, 'by'),
    to: person(obj, 'to'),
    reason: reasonOf(obj),
    ...signatureOf(obj),
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

/** Shape of a confirmRedTeamItem update; every problem names its field. */
export function parseRedTeamConfirm(input: unknown): RedTeamConfirmInput {
  const obj = objectOf(input, 'red-team confirmation', ['release', 'runId', 'item', 'by', 'confirmed', 'note']);
  const head = { release: text(obj, 'release'), runId: text(obj, 'runId'), item: text(obj, 'item'), by: person(obj, 'by') };
  if (typeof obj.confirmed !== 'boolean') throw new RefusedError('confirmed: must be true or false');
  return { ...head, confirmed: obj.confirmed, note: reasonOf(obj, 'note') };
}
