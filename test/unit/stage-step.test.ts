// The stage loop's decisions after one evaluation (src/workflows/stage-step.ts, as canary.ts takes
// them), on the backtest plan: 15 s stages, one evaluation a second, 15 s bad-trend hold, 30 s human wait.
import path from 'node:path';
import { startStage, stageStep, type StageClock, type StageStep } from '../../src/workflows/stage-step';
import { loadPlanFile } from '../../src/plan/loader';
import { emptyMemory, type Judgment } from '../../src/workflows/decide';

const plan = loadPlanFile(path.join(__dirname, '../fixtures/plans/backtest.yaml'));
const T0 = 1_000_000;
const SECOND = plan.canary.evaluationInterval;
const STAGE = plan.canary.stages[0]!.duration;

const clean: Judgment = {
  memory: emptyMemory(), signals: [], triggers: [], comparisons: [], action: 'continue', clean: true,
  waitingForSamples: false, reasons: [], causes: [], missingData: false, unmeasured: [],
};
const notClean: Judgment = { ...clean, clean: false, reasons: ['API P95 latency versus stable: worse'], cause: 'api_p95_latency:versus-stable' };
const missing: Judgment = { ...clean, clean: false, missingData: true, reasons: ['WebSocket staleness: no-data (1/3 of budget)'] };
const paging: Judgment = { ...missing, action: 'page-human', causes: ['WebSocket staleness: no-data 3 times in a row'], cause: 'ws_staleness' };

/** Evaluates once a second from the clock's last evaluation with `judgments`, stopping at the first end. */
function run(judgments: (second: number) => Judgment, clock: StageClock = startStage(plan, 0, T0), seconds = 120): { steps: StageStep[]; clock: StageClock } {
  const steps: StageStep[] = [];
  for (let i = 1; i <= seconds; i++) {
    const now = clock.previousEvaluation + SECOND;
    const step = stageStep(plan, 0, clock, judgments(Math.round((now - T0) / SECOND)), now);
    steps.push(step);
    clock = step.clock;
    if (step.end) break;
  }
  return { steps, clock };
}

const last = (steps: StageStep[]) => steps[steps.length - 1]!;

test('clean evaluations continue until the stage has run its duration, then proceed', () => {
  const { steps } = run(() => clean);
  expect(steps).toHaveLength(STAGE / SECOND);
  expect(steps.slice(0, -1).every((s) => s.decision === 'continue' && !s.end)).toBe(true);
  expect(last(steps)).toMatchObject({ decision: 'proceed', end: { kind: 'proceed' } });
});

test('waiting for samples extends the dwell without starting the bad-trend hold', () => {
  const { steps } = run((s) => (s < 20 ? { ...clean, clean: false, waitingForSamples: true } : clean));
  expect(steps.slice(STAGE / SECOND - 1, 19).every((s) => s.decision === 'extend' && s.clock.holdDeadline === null)).toBe(true);
  expect(last(steps)).toMatchObject({ decision: 'proceed', clock: { previousEvaluation: T0 + 20 * SECOND } });
});

test('a stage not clean at its end holds for badTrendHold, then rolls back; clean within the hold proceeds', () => {
  const { steps } = run(() => notClean);
  const end = T0 + STAGE;
  expect(steps.find((s) => s.clock.previousEvaluation === end)!.clock.holdDeadline).toBe(end + plan.canary.badTrendHold);
  expect(last(steps).clock.previousEvaluation).toBe(end + plan.canary.badTrendHold);
  expect(last(steps).end).toEqual({ kind: 'rollback', reason: 'stage 1 not clean after a 15s hold: API P95 latency versus stable: worse', cause: 'api_p95_latency:versus-stable' });

  const recovered = run((s) => (s < 20 ? notClean : clean));
  expect(last(recovered.steps)).toMatchObject({ end: { kind: 'proceed' }, clock: { previousEvaluation: T0 + 20 * SECOND } });
});

test('time the stage cannot be judged does not count toward its dwell', () => {
  const { steps } = run((s) => (s <= 5 ? missing : clean));
  expect(steps[4]!.clock.stageEnd).toBe(T0 + STAGE + 5 * SECOND);
  expect(last(steps)).toMatchObject({ end: { kind: 'proceed' }, clock: { previousEvaluation: T0 + STAGE + 5 * SECOND } });
});

test('a page-human outcome pages once; nobody answering within humanWaitLimit rolls back; data returning clears it', () => {
  const { steps } = run((s) => (s >= 3 ? paging : missing));
  const paged = steps.filter((s) => s.page);
  expect(paged.map((s) => [s.clock.previousEvaluation, s.page])).toEqual([[T0 + 3 * SECOND, 'Stage 1 (1%) held: WebSocket staleness: no-data 3 times in a row']]);
  expect(last(steps).clock.previousEvaluation).toBe(T0 + 3 * SECOND + plan.canary.humanWaitLimit);
  expect(last(steps).end).toEqual({ kind: 'rollback', reason: 'no human answered within 30s while held: WebSocket staleness: no-data 3 times in a row', cause: 'ws_staleness' });

  const answered = run((s) => (s >= 3 && s < 10 ? paging : clean));
  expect(answered.steps[10]!.clock.pagedSince).toBeNull();
  expect(last(answered.steps).end).toEqual({ kind: 'proceed' });
});

test('a rollback of the judgment ends the stage at once with its causes', () => {
  const { steps } = run(() => ({ ...clean, clean: false, action: 'rollback', causes: ['5xx error rate breached 2/3: 10% not <= 1%'], cause: 'error_rate_5xx' }));
  expect(steps).toHaveLength(1);
  expect(last(steps).end).toEqual({ kind: 'rollback', reason: '5xx error rate breached 2/3: 10% not <= 1%', cause: 'error_rate_5xx' });
});

test('a stage that still cannot be judged after its bad-trend hold pages once, then rolls back after humanWaitLimit', () => {
  const { steps } = run((s) => (s <= STAGE / SECOND ? notClean : missing));
  const holdEnds = T0 + STAGE + plan.canary.badTrendHold;
  const paged = steps.filter((s) => s.page);
  expect(paged.map((s) => [s.clock.previousEvaluation, s.page])).toEqual([[holdEnds, 'Stage 1 (1%) cannot be judged: WebSocket staleness: no-data (1/3 of budget)']]);
  expect(last(steps).clock.previousEvaluation).toBe(holdEnds + plan.canary.humanWaitLimit);
  expect(last(steps).end).toEqual({ kind: 'rollback', reason: 'stage 1 could not be judged and no human answered within 30s: WebSocket staleness: no-data (1/3 of budget)', cause: 'missing-data' });
});
