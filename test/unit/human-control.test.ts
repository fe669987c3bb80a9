// The rules of human control without Temporal: who may steer the canary and
// hand over the war-room, what the Slack messages offer and bind, and the
// plan's policy fields. The workflow, the CLI and the receiver use these same functions.
import path from 'node:path';
import { main } from '../../src/client';
import { loadPlanFileWith } from '../../src/plan/loader';
import { PlanError } from '../../src/plan/schema';
import {
  decodeButton, decodeOverrideContext, encodeButton, encodeOverrideContext, GO_OVERRIDE_CALLBACK, gatePromptOf, OVERRIDE_REASON, renderGatePrompt, renderGoOverrideModal, renderStagePrompt, stageOfTarget, stagePromptOf, type ButtonValue,
} from '../../src/slack/blocks';
import type { ReleaseStatus, StageRecord } from '../../src/workflows/messages';
import {
  checkCanaryControl, checkHandOver, commandContextOf, parseCanaryControl, parseHandOver, RefusedError, type CommandContext,
} from '../../src/workflows/validate';

const SHIPPED = path.join(__dirname, '..', '..', 'plans', 'v1.4.0.yaml');
const plan = loadPlanFileWith(SHIPPED, {});

function refusal(call: () => unknown): string {
  try {
    call();
  } catch (err) {
    if (err instanceof RefusedError) return err.message;
    throw err;
  }
  throw new Error('expected a refusal, but it was accepted');
}

const CTX: CommandContext = {
  release: 'release-spark-trading-v1.4.0', runId: 'run-1', ended: null, people: ['deniz', 'bora', 'cem', 'elif'],
  commander: 'bora', delegates: ['elif'], stage: 2, phase: 'canary', held: false,
};
const CONTROL = { release: CTX.release, runId: CTX.runId, by: 'bora', reason: 'p95 creeping up' };

describe('canary controls', () => {
  it('parses a control, trimming the person and reason, keeping a stage number', () => {
    expect(parseCanaryControl({ ...CONTROL, by: ' bora ', reason: ' why ', stage: 2 })).toEqual({ ...CONTROL, reason: 'why', stage: 2 });
  });

  it.each([
    ['an unknown field', { ...CONTROL, force: true }, /^force: unknown field/],
    ['a stage that is not a stage number', { ...CONTROL, stage: 0 }, /^stage: must be a stage number/],
    ['a stage given as text', { ...CONTROL, stage: '2' }, /^stage: must be a stage number/],
    ['nobody', { ...CONTROL, by: '  ' }, /^by: must name a person/],
    ['no reason', { ...CONTROL, reason: '' }, /^reason: must say why/],
  ])('refuses %s, naming the field', (_name, input, message) => {
    expect(refusal(() => parseCanaryControl(input))).toMatch(message);
  });

  it('are the incident commander\'s or a delegate\'s', () => {
    expect(() => checkCanaryControl('hold', CONTROL, CTX)).not.toThrow();
    expect(() => checkCanaryControl('rollback', { ...CONTROL, by: 'elif' }, CTX)).not.toThrow();
    expect(refusal(() => checkCanaryControl('promote', { ...CONTROL, by: 'cem' }, CTX)))
      .toBe('by: "cem" may not promote now: only the incident commander (bora) or a delegate (elif) may');
    expect(refusal(() => checkCanaryControl('rollback', { ...CONTROL, by: 'cem' }, { ...CTX, delegates: [] })))
      .toBe('by: "cem" may not roll back: only the incident commander (bora) may');
  });

  it('are bound to the release, the run and (from Slack) the stage', () => {
    expect(refusal(() => checkCanaryControl('hold', { ...CONTROL, release: 'release-other' }, CTX))).toMatch(/^release: this is release-spark-trading-v1.4.0/);
    expect(refusal(() => checkCanaryControl('hold', { ...CONTROL, runId: 'run-0' }, CTX))).toMatch(/^runId: the control is for run run-0, but this release's run is run-1/);
    expect(refusal(() => checkCanaryControl('hold', { ...CONTROL, stage: 1 }, CTX))).toBe('stage: this control is for stage 1, but stage 2 is running now');
    expect(() => checkCanaryControl('hold', { ...CONTROL, stage: 2 }, CTX)).not.toThrow();
  });

  it('apply only while a stage runs and the release is not ending', () => {
    expect(refusal(() => checkCanaryControl('hold', CONTROL, { ...CTX, stage: null, phase: 'go-no-go' }))).toMatch(/^phase: no canary stage is running \(phase go-no-go\)/);
    expect(refusal(() => checkCanaryControl('promote', CONTROL, { ...CTX, ended: 'rolling back' }))).toBe('the release is not running any more (rolling back)');
  });

  it('follow the hold state: no second hold, no resume of a running stage, no promote while held', () => {
    expect(refusal(() => checkCanaryControl('hold', CONTROL, { ...CTX, held: true }))).toBe('hold: stage 2 is already held');
    expect(refusal(() => checkCanaryControl('resume', CONTROL, CTX))).toBe('resume: stage 2 is not held');
    expect(refusal(() => checkCanaryControl('promote', CONTROL, { ...CTX, held: true }))).toBe('promote: stage 2 is held; resume it first');
    expect(() => checkCanaryControl('rollback', CONTROL, { ...CTX, held: true })).not.toThrow();
  });
});

describe('hand-over', () => {
  const H = { release: CTX.release, runId: CTX.runId, by: 'bora', to: 'cem', reason: 'shift change' };
  it('goes from the commander (or a delegate taking over) to another person of the plan', () => {
    expect(parseHandOver(H)).toEqual(H);
    expect(() => checkHandOver(H, CTX)).not.toThrow();
    expect(() => checkHandOver({ ...H, by: 'elif' }, CTX)).not.toThrow();
    expect(refusal(() => checkHandOver({ ...H, by: 'deniz' }, CTX))).toMatch(/^by: "deniz" may not hand over the war-room/);
    expect(refusal(() => checkHandOver({ ...H, to: 'mallory' }, CTX))).toMatch(/^to: "mallory" is not a person of this release's plan/);
    expect(refusal(() => checkHandOver({ ...H, to: 'bora' }, CTX))).toBe('to: "bora" is already the incident commander');
    expect(refusal(() => parseHandOver({ ...H, to: undefined }))).toMatch(/^to: must be a string \(missing\)/);
  });
});

function stage(index: number, traffic: number, state: StageRecord['state']): StageRecord {
  return { index, traffic, state, startedAt: '2030-01-01T00:00:00.000Z', evaluations: 5, passed: 8, total: 8, values: {} };
}

function status(overrides: Partial<ReleaseStatus> = {}): ReleaseStatus {
  const checklist = Array.from({ length: 10 }, (_, i) => ({ item: `item ${i + 1}`, ok: i < 7, detail: i < 7 ? 'pass' : 'not implemented' }));
  return {
    release: CTX.release, runId: CTX.runId, service: 'spark-trading', version: 'v1.4.0', initiator: 'deniz', incidentCommander: 'bora',
    phase: 'go-no-go', stage: null, stages: [], canaryWeight: 0, held: false, verdict: 'running', rollback: null, dryRun: false,
    gates: { go: { id: 'go', state: 'open', approvers: ['bora', 'cem', 'elif'], quorum: 1, checklist, decisions: [], deadline: '2030-01-01T00:30:00.000Z' } },
    decisions: [],
    ...overrides,
  } as ReleaseStatus;
}

describe('commandContextOf', () => {
  it('has a stage only while one is live in the canary, and ends with a rollback under way', () => {
    expect(commandContextOf(status(), plan)).toMatchObject({ stage: null, commander: 'bora', delegates: ['elif'], ended: null });
    const live = stage(1, 5, 'paused');
    expect(commandContextOf(status({ phase: 'canary', stage: live, stages: [stage(0, 1, 'passed'), live], held: true }), plan)).toMatchObject({ stage: 2, held: true });
    expect(commandContextOf(status({ phase: 'canary', stage: stage(0, 1, 'passed') }), plan).stage).toBeNull();
    expect(commandContextOf(status(), plan, true).ended).toBe('rolling back');
    expect(commandContextOf(status({ verdict: 'no-go' }), plan).ended).toBe('no-go');
  });
});

describe('Slack messages', () => {
  const value: ButtonValue = { release: CTX.release, runId: CTX.runId, target: 'stage-3', action: 'rollback' };

  it('button values round-trip and bad ones are refused saying why', () => {
    expect(decodeButton(encodeButton(value))).toEqual(value);
    expect(decodeButton(encodeButton({ ...value, target: 'go', action: 'go', override: true }))).toEqual({ ...value, target: 'go', action: 'go', override: true });
    expect(() => decodeButton('GO')).toThrow(/not a spark-release control \(its value is not JSON\)/);
    expect(() => decodeButton(JSON.stringify({ r: 'x', u: 'y', t: 'go' }))).toThrow(/field a is missing/);
    expect(() => decodeButton(JSON.stringify({ r: 'x', u: 'y', t: 'go', a: 'promote' }))).toThrow(/unknown button action "promote"/);
    expect(stageOfTarget('stage-3')).toBe(3);
    expect(stageOfTarget('go')).toBeNull();
    expect(stageOfTarget('stage-0')).toBeNull();
  });

  it('an open gate below 10/10 offers GO as an override (its click opens the reason modal), and NO-GO with a confirmation', () => {
    const message = renderGatePrompt(gatePromptOf(status(), plan, 'go'));
    expect(message.text).toBe('GO/NO-GO (10/10 checklist) for spark-trading v1.4.0 is open: checklist 7/10, 0 of 1 GO so far. Approvers: bora, cem, elif (quorum 1); decide before 2030-01-01T00:30:00.000Z, no decision is NO-GO.');
    const actions = message.blocks!.find((b) => b.type === 'actions') as { elements: { action_id: string; value: string; text: { text: string }; confirm?: unknown }[] };
    expect(actions.elements.map((e) => [e.action_id, e.text.text, e.confirm !== undefined])).toEqual([
      ['spark:go', 'GO (override, checklist 7/10)', false], ['spark:no-go', 'NO-GO', true],
    ]);
    expect(decodeButton(actions.elements[0]!.value)).toEqual({ release: CTX.release, runId: CTX.runId, target: 'go', action: 'go', override: true });
  });

  it('the override modal lists what fails, asks for a bounded reason and carries the click back', () => {
    const button: ButtonValue = { release: CTX.release, runId: CTX.runId, target: 'go', action: 'go', override: true };
    const prompt = gatePromptOf(status(), plan, 'go');
    const modal = renderGoOverrideModal(prompt, { button, channel: 'C0WARROOM', ts: '1700000000.000001' });
    expect(modal.callback_id).toBe(GO_OVERRIDE_CALLBACK);
    const unmet = prompt.checklist.filter((i) => !i.ok);
    expect(unmet).toHaveLength(3);
    for (const item of unmet) expect(JSON.stringify(modal.blocks)).toContain(item.item);
    expect(modal.blocks.find((b) => b.type === 'input')).toMatchObject({
      block_id: OVERRIDE_REASON.block, element: { type: 'plain_text_input', action_id: OVERRIDE_REASON.action, min_length: 10, max_length: 2000 },
    });
    expect(decodeOverrideContext(modal.private_metadata)).toEqual({ button, channel: 'C0WARROOM', ts: '1700000000.000001' });
    expect(() => decodeOverrideContext('{')).toThrow(/private_metadata: not a spark-release override/);
    expect(() => decodeOverrideContext(encodeOverrideContext({ button: { ...button, action: 'no-go' } }))).toThrow(/not a GO override/);
    expect(() => decodeOverrideContext(JSON.stringify({ b: encodeButton(button), c: 7 }))).toThrow(/field c must be a string/);
  });

  it('a complete checklist offers a plain GO; a decided gate shows who decided and when, and no buttons', () => {
    const s = status();
    s.gates.go.checklist = s.gates.go.checklist.map((i) => ({ ...i, ok: true }));
    const open = renderGatePrompt(gatePromptOf(s, plan, 'go'));
    expect(JSON.stringify(open.blocks)).toContain('"text":"GO","emoji":true');
    s.gates.go.state = 'go';
    s.gates.go.decisions = [{ kind: 'gate', gate: 'go', decision: 'go', by: 'bora', reason: '10/10', at: '2030-01-01T00:05:00.000Z', release: CTX.release, runId: CTX.runId, accepted: true }];
    const decided = renderGatePrompt(gatePromptOf(s, plan, 'go'));
    expect(decided.text).toBe('GO for spark-trading v1.4.0: GO/NO-GO (10/10 checklist) passed (1 of 1 GO)');
    expect(decided.blocks!.some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(decided.blocks)).toContain('*GO* by <@U0BORA001> (bora) at 2030-01-01T00:05:00.000Z: 10/10');
  });

  it('a running stage offers Hold and a confirmed Roll back; held, Resume; over, nothing', () => {
    const live = stage(2, 25, 'running');
    const running = status({ phase: 'canary', stage: live, stages: [stage(0, 1, 'passed'), stage(1, 5, 'passed'), live] });
    const ids = (s: ReleaseStatus, r: StageRecord) => {
      const actions = renderStagePrompt(stagePromptOf(s, plan, r)).blocks!.find((b) => b.type === 'actions') as { elements: { action_id: string; confirm?: unknown }[] } | undefined;
      return actions?.elements.map((e) => `${e.action_id}${e.confirm ? ' (confirm)' : ''}`) ?? [];
    };
    expect(ids(running, live)).toEqual(['spark:hold', 'spark:rollback (confirm)']);
    expect(ids({ ...running, held: true }, live)).toEqual(['spark:resume', 'spark:rollback (confirm)']);
    expect(ids(running, running.stages[0]!)).toEqual([]);
    expect(renderStagePrompt(stagePromptOf(running, plan, running.stages[0]!)).text).toBe('Stage 1 (1%) of spark-trading v1.4.0 passed: 8/8 signals pass after 5 evaluations');
    const ended = { ...running, verdict: 'aborted' as const, phase: 'done' as const, rollback: { reason: 'aborted by bora: incident', cause: 'abort', stage: 3, fromTraffic: 25, requestedAt: '', evidence: [] } };
    expect(ids(ended, live)).toEqual([]);
    expect(renderStagePrompt(stagePromptOf(ended, plan, live)).text).toBe('Stage 3 (25%) of spark-trading v1.4.0 rolled back: aborted by bora: incident');
  });
});

describe('plan policy', () => {
  const problems = (overrides: Record<string, unknown>) => {
    try {
      loadPlanFileWith(SHIPPED, overrides);
    } catch (err) {
      if (err instanceof PlanError) return err.problems;
      throw err;
    }
    return [];
  };

  it('ships reminders, escalation and a delegate', () => {
    expect(plan.gates.go).toMatchObject({ remindEvery: 600_000, escalateAfter: 1_200_000, escalateTo: [], quorum: 1, allowInitiator: false, onTimeout: 'no-go' });
    expect(plan.delegates).toEqual(['elif']);
    expect(plan.pager.route).toBe('spark-trading');
  });

  it('refuses delegates and escalation targets outside the plan, and reminders that could never happen', () => {
    expect(problems({ delegates: ['mallory', 'bora'] })).toEqual(['delegates[0]: "mallory" is not in people', 'delegates[1]: "bora" is the incident commander already']);
    expect(problems({ gates: { go: { escalateTo: ['nobody'] } } })).toEqual(['gates.go.escalateTo[0]: "nobody" is not in people']);
    expect(problems({ gates: { go: { remindEvery: '30m', escalateAfter: '45m' } } })).toEqual([
      'gates.go.remindEvery: must be shorter than the gate timeout (it would never happen)',
      'gates.go.escalateAfter: must be shorter than the gate timeout (it would never happen)',
    ]);
  });
});

describe('CLI parity: the same refusals before anything is sent', () => {
  async function cli(...args: string[]): Promise<{ code: number; err: string }> {
    const err: string[] = [];
    const code = await main(args, () => undefined, (l) => err.push(l));
    return { code, err: err.join('\n') };
  }

  it('promote, rollback, hold and resume need a reason; handover needs --to', async () => {
    for (const command of ['promote', 'rollback', 'hold', 'resume']) {
      const r = await cli(command, 'release-x', '--as', 'bora');
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(/required option '--reason <text>' not specified/);
    }
    expect((await cli('handover', 'release-x', '--as', 'bora')).err).toMatch(/required option '--to <person>' not specified/);
  });

  it('bad values are refused naming the field', async () => {
    const blank = await cli('promote', 'release-x', '--as', 'bora', '--reason', '   ');
    expect(blank).toEqual({ code: 2, err: 'error: reason: must say why' });
    const stage = await cli('rollback', 'release-x', '--as', 'bora', '--reason', 'x', '--stage', '0', '--dry-run');
    expect(stage.code).not.toBe(0);
    expect(stage.err).toMatch(/--stage <n>.*must be a stage number/);
    const nobody = await cli('handover', 'release-x', '--as', 'bora', '--to', ' ');
    expect(nobody).toEqual({ code: 2, err: 'error: to: must name a person' });
  });
});
