// Block Kit messages that let people steer a release from Slack: the GO/NO-GO
// prompt and the canary stage controls. Every button's value binds the click to
// a release, a run and a gate (or stage), so a stale message cannot move
// another run. Pure functions: the workflow builds prompts with them too.
import type { types } from '@slack/bolt';
import type { ChatBlock, ChatMessage } from '../adapters/chat/notifier';
import type { ReleasePlan } from '../plan/schema';
import type { ChecklistItem, GateDecision, GateId, GateState, ReleaseStatus, StageRecord } from '../workflows/messages';

export interface PromptPerson {
  id: string;
  name: string;
  slack?: string;
}

interface PromptBase {
  release: string;
  runId: string;
  service: string;
  version: string;
  dryRun: boolean;
}

export interface GatePrompt extends PromptBase {
  kind: 'gate';
  gate: GateId;
  title: string;
  state: GateState['state'];
  checklist: ChecklistItem[];
  approvers: PromptPerson[];
  quorum: number;
  deadline?: string;
  decisions: { by: PromptPerson; decision: GateDecision; at: string; reason: string }[];
}

export interface StagePrompt extends PromptBase {
  kind: 'stage';
  /** 1-based. */
  stage: number;
  traffic: number;
  commander: PromptPerson;
  held: boolean;
  /** Hold and Roll back are offered only while this stage is the one running. */
  controls: boolean;
  /** Once the stage is over: how it ended. */
  result?: string;
  /** Hold, resume, promote and rollback requests at this stage: who and when. */
  actions: { action: string; by: PromptPerson; at: string; reason: string }[];
}

export type Prompt = GatePrompt | StagePrompt;

export type ButtonAction = 'go' | 'no-go' | 'hold' | 'resume' | 'rollback';
export const BUTTON_ACTIONS: ButtonAction[] = ['go', 'no-go', 'hold', 'resume', 'rollback'];
/** Every action_id of ours starts with this (the receiver listens for it). */
export const ACTION_PREFIX = 'spark:';

/** What a button carries; Slack returns it verbatim with the click. */
export interface ButtonValue {
  release: string;
  runId: string;
  /** A gate id, or `stage-<n>` for canary controls. */
  target: string;
  action: ButtonAction;
  /** GO although the checklist was not complete when the prompt was posted. */
  override?: boolean;
}

export function encodeButton(v: ButtonValue): string {
  return JSON.stringify({ r: v.release, u: v.runId, t: v.target, a: v.action, ...(v.override ? { o: true } : {}) });
}

export class ButtonValueError extends Error {
  override name = 'ButtonValueError';
}

export function decodeButton(value: unknown): ButtonValue {
  let raw: unknown;
  try {
    raw = JSON.parse(String(value));
  } catch {
    throw new ButtonValueError('this button is not a spark-release control (its value is not JSON)');
  }
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  for (const key of ['r', 'u', 't', 'a'] as const) {
    if (typeof o[key] !== 'string' || o[key] === '') throw new ButtonValueError(`this button is not a spark-release control (field ${key} is missing)`);
  }
  if (!BUTTON_ACTIONS.includes(o.a as ButtonAction)) throw new ButtonValueError(`unknown button action "${String(o.a)}"`);
  if (o.o !== undefined && o.o !== true) throw new ButtonValueError('field o must be true when present');
  return { release: o.r as string, runId: o.u as string, target: o.t as string, action: o.a as ButtonAction, ...(o.o ? { override: true } : {}) };
}

/** `stage-3` → 3; null for a gate. */
export function stageOfTarget(target: string): number | null {
  const m = /^stage-([1-9]\d*)$/.exec(target);
  return m ? Number(m[1]) : null;
}

// ---- prompts from a release's status ----

function personOf(plan: ReleasePlan, id: string): PromptPerson {
  const p = plan.people.find((x) => x.id === id);
  return { id, name: p?.name ?? id, ...(p?.slack ? { slack: p.slack } : {}) };
}

function base(status: ReleaseStatus): PromptBase {
  return { release: status.release, runId: status.runId, service: status.service, version: status.version, dryRun: status.dryRun };
}

export function gatePromptOf(status: ReleaseStatus, plan: ReleasePlan, gate: GateId): GatePrompt {
  const g = status.gates[gate];
  const spec = plan.gates[gate];
  return {
    kind: 'gate',
    ...base(status),
    gate,
    title: spec.title ?? gate,
    state: g.state,
    checklist: g.checklist,
    approvers: spec.approvers.map((a) => personOf(plan, a)),
    quorum: g.quorum,
    ...(g.deadline ? { deadline: g.deadline } : {}),
    decisions: g.decisions
      .filter((d) => d.accepted && d.decision)
      .map((d) => ({ by: personOf(plan, d.by), decision: d.decision!, at: d.at, reason: d.reason })),
  };
}

export function stagePromptOf(status: ReleaseStatus, plan: ReleasePlan, stage: StageRecord): StagePrompt {
  const current = status.stage?.index === stage.index && status.phase === 'canary' && status.verdict === 'running';
  const live = stage.state === 'running' || stage.state === 'holding' || stage.state === 'paused';
  let result: string | undefined;
  if (stage.state === 'passed') result = `passed: ${stage.passed}/${stage.total} signals pass after ${stage.evaluations} evaluations`;
  else if (stage.state === 'rolled-back' || (live && status.rollback && !current)) result = `rolled back: ${status.rollback?.reason ?? 'see the evidence'}`;
  else if (live && !current) result = `ended with the release (${status.verdict})`;
  return {
    kind: 'stage',
    ...base(status),
    stage: stage.index + 1,
    traffic: stage.traffic,
    commander: personOf(plan, status.incidentCommander),
    held: current && status.held,
    controls: current && live,
    ...(result ? { result } : {}),
    actions: status.decisions
      .filter((d) => d.accepted && d.stage === stage.index + 1 && ['hold', 'resume', 'promote', 'rollback'].includes(d.kind))
      .map((d) => ({ action: d.kind, by: personOf(plan, d.by), at: d.at, reason: d.reason })),
  };
}

/** Stable name of a prompt's message within a release (one message per gate and per stage). */
export function promptKey(p: Prompt): string {
  return p.kind === 'gate' ? `gate-${p.gate}` : `stage-${p.stage}`;
}

// ---- rendering ----

const plain = (text: string) => ({ type: 'plain_text' as const, text: clip(text, 150), emoji: true });
const mrkdwn = (text: string) => ({ type: 'mrkdwn' as const, text: clip(text, 3000) });

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Slack mention when the plan knows the user, the name otherwise; the plan id either way. */
function who(p: PromptPerson): string {
  return p.slack ? `<@${p.slack}> (${p.id})` : `${p.name} (${p.id})`;
}

function subject(p: PromptBase): string {
  return `${p.service} ${p.version}${p.dryRun ? ' (dry run)' : ''}`;
}

function confirm(title: string, text: string, yes: string) {
  return { title: plain(title), text: mrkdwn(text), confirm: plain(yes), deny: plain('Cancel'), style: 'danger' as const };
}

function bindingContext(p: PromptBase): ChatBlock {
  return { type: 'context', elements: [mrkdwn(`Release \`${p.release}\` · run \`${p.runId}\``)] };
}

function gateHeadline(p: GatePrompt): string {
  const passed = p.checklist.filter((i) => i.ok).length;
  const gos = p.decisions.filter((d) => d.decision === 'go').length;
  switch (p.state) {
    case 'go': return `GO for ${subject(p)}: ${p.title} passed (${gos} of ${p.quorum} GO)`;
    case 'no-go': return `NO-GO for ${subject(p)}: ${p.title}`;
    case 'timed-out': return `NO-GO for ${subject(p)}: nobody decided ${p.title} in time`;
    default: return `${p.title} for ${subject(p)} is open: checklist ${passed}/${p.checklist.length}, ${gos} of ${p.quorum} GO so far`;
  }
}

/** The message's plain text: the headline, and while open who decides by when. */
function gateText(p: GatePrompt): string {
  if (p.state !== 'open') return gateHeadline(p);
  return `${gateHeadline(p)}. Approvers: ${p.approvers.map((a) => a.id).join(', ')} (quorum ${p.quorum})${p.deadline ? `; decide before ${p.deadline}, no decision is NO-GO` : ''}.`;
}

export function renderGatePrompt(p: GatePrompt): ChatMessage {
  const passed = p.checklist.filter((i) => i.ok).length;
  const complete = p.checklist.length > 0 && passed === p.checklist.length;
  const open = p.state === 'open';
  const blocks: ChatBlock[] = [
    { type: 'header', text: plain(`${p.title}: ${subject(p)}`) },
    { type: 'section', text: mrkdwn(`*${gateHeadline(p)}*`) },
  ];
  if (p.checklist.length > 0) {
    const items = p.checklist.map((i) => `${i.ok ? ':white_check_mark:' : ':x:'} ${i.item}${i.ok ? '' : ` (${clip(i.detail, 120)})`}`);
    blocks.push({ type: 'section', text: mrkdwn(`*Checklist ${passed}/${p.checklist.length}*\n${items.join('\n')}`) });
  }
  if (p.decisions.length > 0) {
    const lines = p.decisions.map((d) => `*${d.decision.toUpperCase()}* by ${who(d.by)} at ${d.at}: ${clip(d.reason, 200)}`);
    blocks.push({ type: 'section', text: mrkdwn(lines.join('\n')) });
  }
  blocks.push({
    type: 'context',
    elements: [mrkdwn(`Approvers: ${p.approvers.map(who).join(', ')} · quorum ${p.quorum}${open && p.deadline ? ` · decide before ${p.deadline} (no decision is NO-GO)` : ''}`)],
  });
  blocks.push(bindingContext(p));
  if (open) {
    const button = (action: ButtonAction, override = false) => encodeButton({ release: p.release, runId: p.runId, target: p.gate, action, ...(override ? { override } : {}) });
    blocks.push({
      type: 'actions',
      block_id: `spark-gate-${p.gate}`,
      elements: [
        {
          type: 'button', action_id: `${ACTION_PREFIX}go`, style: 'primary',
          text: plain(complete ? 'GO' : `GO (override, checklist ${passed}/${p.checklist.length})`),
          // Below 10/10 the click opens a modal that asks for the override's reason.
          value: button('go', !complete),
        },
        {
          type: 'button', action_id: `${ACTION_PREFIX}no-go`, style: 'danger', text: plain('NO-GO'),
          value: button('no-go'),
          confirm: confirm(`NO-GO for ${p.version}?`, 'One NO-GO closes the gate: the release ends and no traffic moves.', 'NO-GO'),
        },
      ],
    });
  }
  return { text: gateText(p), blocks };
}

const ACTION_LABELS: Record<string, string> = { hold: 'Held', resume: 'Resumed', promote: 'Promoted now', rollback: 'Rolled back' };

function stageHeadline(p: StagePrompt): string {
  const name = `Stage ${p.stage} (${p.traffic}%) of ${subject(p)}`;
  if (p.result) return `${name} ${p.result}`;
  return `${name} is ${p.held ? 'HELD' : 'running'}. IC: ${p.commander.name} (${p.commander.id})`;
}

export function renderStagePrompt(p: StagePrompt): ChatMessage {
  const blocks: ChatBlock[] = [
    { type: 'section', text: mrkdwn(p.result ? `*${stageHeadline(p)}*` : `*Stage ${p.stage} (${p.traffic}%)* of ${subject(p)} is ${p.held ? '*HELD*: its clock is paused' : 'running'}. IC: ${who(p.commander)}`) },
  ];
  if (p.actions.length > 0) {
    blocks.push({ type: 'context', elements: [mrkdwn(p.actions.map((a) => `${ACTION_LABELS[a.action] ?? a.action} by ${who(a.by)} at ${a.at}: ${clip(a.reason, 200)}`).join('\n'))] });
  }
  blocks.push(bindingContext(p));
  if (p.controls) {
    const value = (action: ButtonAction) => encodeButton({ release: p.release, runId: p.runId, target: `stage-${p.stage}`, action });
    blocks.push({
      type: 'actions',
      block_id: `spark-stage-${p.stage}`,
      elements: [
        p.held
          ? { type: 'button', action_id: `${ACTION_PREFIX}resume`, style: 'primary', text: plain('Resume'), value: value('resume') }
          : { type: 'button', action_id: `${ACTION_PREFIX}hold`, text: plain('Hold'), value: value('hold') },
        {
          type: 'button', action_id: `${ACTION_PREFIX}rollback`, style: 'danger', text: plain('Roll back'), value: value('rollback'),
          confirm: confirm(`Roll back ${p.version}?`, `The canary goes from ${p.traffic}% to 0% at once, through the rollback path. Recorded with your name.`, 'Roll back'),
        },
      ],
    });
  }
  return { text: stageHeadline(p), blocks };
}

export function renderPrompt(p: Prompt): ChatMessage {
  return p.kind === 'gate' ? renderGatePrompt(p) : renderStagePrompt(p);
}

// ---- the GO override's reason ----

export const GO_OVERRIDE_CALLBACK = `${ACTION_PREFIX}go-override`;
export const OVERRIDE_REASON = { block: 'override-reason', action: 'reason', minLength: 10, maxLength: 2000 } as const;

/** What the modal carries back with its submission: the click's binding and the message to update. */
export interface OverrideContext {
  button: ButtonValue;
  channel?: string;
  ts?: string;
}

export function encodeOverrideContext(c: OverrideContext): string {
  return JSON.stringify({ b: encodeButton(c.button), ...(c.channel ? { c: c.channel } : {}), ...(c.ts ? { m: c.ts } : {}) });
}

export function decodeOverrideContext(raw: unknown): OverrideContext {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(String(raw)) as Record<string, unknown>;
  } catch {
    throw new ButtonValueError('private_metadata: not a spark-release override (not JSON)');
  }
  const button = decodeButton(o?.b);
  if (button.action !== 'go' || button.target !== 'go') throw new ButtonValueError('private_metadata: not a GO override');
  for (const key of ['c', 'm'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'string') throw new ButtonValueError(`private_metadata: field ${key} must be a string`);
  }
  return { button, ...(o.c ? { channel: o.c as string } : {}), ...(o.m ? { ts: o.m as string } : {}) };
}

/** The modal a GO below a full checklist opens: what fails, and the reason that goes on record. */
export function renderGoOverrideModal(p: GatePrompt, context: OverrideContext): types.ModalView {
  const passed = p.checklist.filter((i) => i.ok).length;
  const unmet = p.checklist.filter((i) => !i.ok).map((i) => `:x: ${i.item} (${clip(i.detail, 120)})`);
  return {
    type: 'modal',
    callback_id: GO_OVERRIDE_CALLBACK,
    private_metadata: encodeOverrideContext(context),
    title: plain('GO with an override'),
    submit: plain('GO anyway'),
    close: plain('Cancel'),
    blocks: [
      { type: 'section', text: mrkdwn(`*${subject(p)}*: only ${passed} of ${p.checklist.length} checklist items pass. Your GO is recorded as an override, with your name and this reason.`) },
      { type: 'section', text: mrkdwn(unmet.join('\n') || 'The checklist is complete now: a plain GO needs no reason.') },
      {
        type: 'input', block_id: OVERRIDE_REASON.block, label: plain('Why GO with this checklist?'),
        element: { type: 'plain_text_input', action_id: OVERRIDE_REASON.action, multiline: true, min_length: OVERRIDE_REASON.minLength, max_length: OVERRIDE_REASON.maxLength },
      },
    ],
  };
}
