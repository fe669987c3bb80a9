// Synchronous checks of what humans send a release. They run in update
// validators (a refusal writes nothing to history) and in the CLI and Slack
// receiver before anything is sent, so every edge refuses the same way.
import type { ControlInput, GateDecisionInput, GateId } from './messages';

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
  const known = ['release', 'runId', 'gate', 'decision', 'approver', 'reason', 'override'];
  const extra = Object.keys(obj).find((k) => !known.includes(k));
  if (extra) throw new RefusedError(`${extra}: unknown field`);
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
