// The people side of a release, inside the workflow: the incident commander's
// canary controls and hand-over (updates with validators), gate reminders and
// escalation, and the Slack prompts kept in step with the release's state.
import { condition, isCancellation, log, setHandler, type TimerOptions } from '@temporalio/workflow';
import type { MessageRef } from '../adapters/chat/notifier';
import { gatePromptOf, promptKey, renderPrompt, stagePromptOf, type Prompt } from '../slack/blocks';
import type { CanaryOutcome } from './canary';
import {
  CANARY_CONTROL_ACTIONS, canaryControlUpdates, handOverUpdate, planQuery,
  type CanaryControlAction, type ControlInput, type DecisionRecord, type GateId,
} from './messages';
import type { ReleaseRun } from './run';
import { checkSigned, markUsed } from './identity';
import { checkCanaryControl, checkHandOver, commandContextOf, parseCanaryControl, parseHandOver } from './validate';

function contextOf(run: ReleaseRun) {
  return commandContextOf(run.status, run.plan, run.rollbackRequested !== null || run.abortRequested !== null);
}

function decide(run: ReleaseRun, record: DecisionRecord, line: string): DecisionRecord {
  run.status.decisions.push(record);
  run.record({ key: `control/${run.status.decisions.length}`, file: 'decisions.txt', kind: 'decision', mode: 'append', body: `${record.at} ${line}` });
  return record;
}

const APPLY: Record<CanaryControlAction, (run: ReleaseRun, c: ControlInput) => void> = {
  hold: (run, c) => { run.holdRequested = c; run.status.held = true; },
  resume: (run) => { run.holdRequested = null; run.status.held = false; },
  promote: (run, c) => { run.promoteRequested = c; },
  rollback: (run, c) => { run.rollbackRequested = c; },
};

/** Registers the plan query, the canary controls and the hand-over. Call before the first await. */
export function registerHumanControl(run: ReleaseRun): void {
  const { status } = run;
  setHandler(planQuery, () => run.plan);
  for (const action of CANARY_CONTROL_ACTIONS) {
    setHandler(
      canaryControlUpdates[action],
      (raw): DecisionRecord => {
        const c = parseCanaryControl(raw);
        markUsed(run, c.signature);
        const stage = status.stage!.index + 1;
        APPLY[action](run, { by: c.by, reason: c.reason });
        const record: DecisionRecord = {
          kind: action, by: c.by, reason: c.reason, at: new Date().toISOString(), stage,
          release: status.release, runId: status.runId, accepted: true, ...(c.signature ? { signature: c.signature } : {}),
        };
        return decide(run, record, `${action} by ${c.by} at stage ${stage} (${status.stage!.traffic}%): ${c.reason}`);
      },
      {
        validator: (raw) => {
          const c = parseCanaryControl(raw);
          checkSigned(run, { release: c.release, runId: c.runId, target: action, decision: c.stage === undefined ? '' : String(c.stage), by: c.by, reason: c.reason, at: c.at ?? '' }, c.signature, 'commander');
          checkCanaryControl(action, c, contextOf(run));
        },
      },
    );
  }
  setHandler(
    handOverUpdate,
    (raw): DecisionRecord => {
      const h = parseHandOver(raw);
      markUsed(run, h.signature);
      const from = status.incidentCommander;
      status.incidentCommander = h.to;
      const record: DecisionRecord = {
        kind: 'handover', by: h.by, to: h.to, reason: h.reason, at: new Date().toISOString(),
        release: status.release, runId: status.runId, accepted: true, ...(h.signature ? { signature: h.signature } : {}),
      };
      return decide(run, record, `handover by ${h.by}: incident commander ${from} -> ${h.to}: ${h.reason}`);
    },
    {
      validator: (raw) => {
        const h = parseHandOver(raw);
        checkSigned(run, { release: h.release, runId: h.runId, target: 'handover', decision: h.to, by: h.by, reason: h.reason, at: h.at ?? '' }, h.signature, 'commander');
        checkHandOver(h, contextOf(run));
      },
    },
  );
}

/** The rollback the commander asked for, or null. */
export function manualRollback(run: ReleaseRun): CanaryOutcome | null {
  const r = run.rollbackRequested;
  return r ? { kind: 'rollback', reason: `rolled back by ${r.by}: ${r.reason}`, cause: 'manual' } : null;
}

/** True when the commander asked to promote now: the stage ends here (a rollback judgment still wins, it is checked first). */
export function takePromotion(run: ReleaseRun): boolean {
  const p = run.promoteRequested;
  if (!p || !run.status.stage) return false;
  run.promoteRequested = null;
  run.status.stage.promotedBy = p.by;
  const { index, traffic, evaluations } = run.status.stage;
  run.warRoom(`Stage ${index + 1} (${traffic}%) | promoted now by ${p.by}: ${p.reason} | IC: Proceed`, `stage/${index + 1}/promote/${evaluations}`);
  return true;
}

function spell(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}

/**
 * Waits for a gate to close (or an abort), reminding the war-room who has not
 * decided every `remindEvery` and paging `escalateTo` after `escalateAfter`.
 * Returns false when the gate's timeout passed without a decision.
 */
export async function awaitGate(run: ReleaseRun, id: GateId, timer: TimerOptions = {}): Promise<boolean> {
  const { status, plan } = run;
  const gate = status.gates[id];
  const spec = plan.gates[id];
  const start = Date.now();
  const deadline = start + spec.timeout;
  let nextReminder = spec.remindEvery !== undefined ? start + spec.remindEvery : null;
  let escalateAt = spec.escalateAfter !== undefined ? start + spec.escalateAfter : null;
  let reminders = 0;
  const closed = () => gate.state !== 'open' || run.abortRequested !== null;
  for (;;) {
    const now = Date.now();
    if (now >= deadline) return false;
    const wake = Math.min(deadline, nextReminder ?? deadline, escalateAt ?? deadline);
    if (await condition(closed, wake - now, timer)) return true;
    const at = Date.now();
    const waiting = spec.approvers.filter((a) => !gate.decisions.some((d) => d.accepted && d.by === a) && (spec.allowInitiator || a !== run.input.initiator));
    const named = waiting.map((a) => mention(run, a)).join(', ');
    const gos = gate.decisions.filter((d) => d.accepted && d.decision === 'go').length;
    if (escalateAt !== null && at >= escalateAt) {
      escalateAt = null;
      const to = spec.escalateTo.length > 0 ? spec.escalateTo : [status.incidentCommander];
      const reason = `${spec.title ?? id} for ${plan.service} ${plan.version} has waited ${spell(at - start)} without a decision (${gos} of ${gate.quorum} GO); it closes as NO-GO in ${spell(deadline - at)}`;
      const paged = await run.page(reason, `gate/${id}/escalation`, { kind: 'escalation', to });
      await run.announce('warRoom', `Escalation: ${reason}. Paged ${to.join(', ')} (${paged.delivered ? 'delivered' : 'not delivered'}). Waiting on ${named || 'nobody'}.`, `gate-${id}-escalation`);
    }
    if (nextReminder !== null && at >= nextReminder) {
      reminders += 1;
      nextReminder += spec.remindEvery!;
      await run.announce('warRoom', `Reminder: ${spec.title ?? id} for ${plan.service} ${plan.version} is still open, ${spell(deadline - at)} left. Waiting on ${named || 'nobody'}; ${gos} of ${gate.quorum} GO so far.`, `gate-${id}-reminder-${reminders}`);
    }
  }
}

function mention(run: ReleaseRun, id: string): string {
  const slack = run.plan.people.find((p) => p.id === id)?.slack;
  return slack ? `<@${slack}> (${id})` : id;
}

// ---- Slack prompts kept in step with the release ----

interface Shown {
  rendered: string;
  ref?: MessageRef;
  versions: number;
}

class PromptKeeper {
  readonly shown = new Map<string, Shown>();
  busy = false;
  commander: string;
  constructor(run: ReleaseRun) {
    this.commander = run.status.incidentCommander;
  }
}

// Keyed by the run object, which lives exactly as long as its workflow.
const keepers = new WeakMap<ReleaseRun, PromptKeeper>();

function prompts(run: ReleaseRun): Prompt[] {
  const { status, plan } = run;
  const out: Prompt[] = [];
  if (status.gates.go.state !== 'pending') out.push(gatePromptOf(status, plan, 'go'));
  for (const stage of status.stages) out.push(stagePromptOf(status, plan, stage));
  return out;
}

function stale(run: ReleaseRun, k: PromptKeeper): Prompt[] {
  return prompts(run).filter((p) => k.shown.get(promptKey(p))?.rendered !== JSON.stringify(p));
}

async function catchUp(run: ReleaseRun, k: PromptKeeper): Promise<void> {
  k.busy = true;
  try {
    const handover = [...run.status.decisions].reverse().find((d) => d.kind === 'handover');
    if (handover && handover.to !== k.commander) {
      const from = k.commander;
      k.commander = run.status.incidentCommander;
      await run.announce('warRoom', `Incident commander hand-over: ${mention(run, from)} -> ${mention(run, k.commander)} (by ${handover.by}): ${handover.reason}`, `handover-${run.status.decisions.length}`);
    }
    for (const p of stale(run, k)) {
      const key = promptKey(p);
      const before = k.shown.get(key);
      // Marked before the call: a failed delivery is recorded, not retried in a loop.
      const entry: Shown = { rendered: JSON.stringify(p), versions: (before?.versions ?? 0) + 1, ...(before?.ref ? { ref: before.ref } : {}) };
      k.shown.set(key, entry);
      const result = await run.announce('warRoom', renderPrompt(p).text, `prompt-${key}-${entry.versions}`, { prompt: p, ...(before?.ref ? { replace: before.ref } : {}) });
      if (!entry.ref && result.message) entry.ref = result.message;
    }
  } finally {
    k.busy = false;
  }
}

function needsWork(run: ReleaseRun, k: PromptKeeper): boolean {
  return run.status.incidentCommander !== k.commander || stale(run, k).length > 0;
}

/** Posts the gate and stage prompts and replaces them as the release moves (decisions, holds, stage ends). */
export function startPromptKeeper(run: ReleaseRun): void {
  const k = new PromptKeeper(run);
  keepers.set(run, k);
  void (async () => {
    for (;;) {
      await condition(() => !k.busy && needsWork(run, k));
      if (k.busy) continue; // settlePrompts woke in the same activation and went first
      try {
        await catchUp(run, k);
      } catch (err) {
        if (isCancellation(err)) return; // settlePrompts catches up from the non-cancellable finish
        // An activity that failed after its retries (the ledger, not Slack): the release goes on.
        log.warn('prompt update failed', { error: (err as Error).message });
      }
    }
  })();
}

/** Brings every prompt up to date before the release returns (their buttons go away). */
export async function settlePrompts(run: ReleaseRun): Promise<void> {
  const k = keepers.get(run);
  if (!k) return;
  for (;;) {
    await condition(() => !k.busy);
    if (k.busy) continue; // the keeper woke in the same activation and went first
    if (!needsWork(run, k)) return;
    await catchUp(run, k);
  }
}
