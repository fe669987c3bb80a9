// The canary stage loop (spec section 6): set the weight, evaluate every
// interval, apply the decision matrix, proceed, hold or roll back.
import { ActivityFailure, condition, patched } from '@temporalio/workflow';
import type { InstantResult } from '../adapters/metrics/provider';
import { emptyMemory, type JudgeMemory, type Judgment } from './decide';
import { judgeCanary, renderCanaryQueries, SEQUENTIAL_RULES, stageQueries } from './canary-judgment';
import type { StageRecord } from './messages';
import type { ReleaseRun } from './run';
import { manualRollback, takePromotion } from './human-control';
import { timerSummary } from './visibility';
import { compareWithStable } from './versus-stable';
import { warRoomLine } from './warroom';
import { startStage, stageStep } from './stage-step';
import { formatDuration } from '../plan/duration';

export type CanaryOutcome =
  | { kind: 'promoted' }
  | { kind: 'rollback'; reason: string; cause: string };

/** Waits up to `ms`, waking early for an abort or the commander's hold, promote or rollback. */
async function interruptibleWait(run: ReleaseRun, ms: number): Promise<void> {
  if (ms > 0) await condition(() => run.humanInterrupt(), ms, timerSummary.evaluation(run.status));
}

/** The rollback an abort asks for, or null. A function, so TypeScript re-reads the field after awaits. */
function abortOutcome(run: ReleaseRun): CanaryOutcome | null {
  const abort = run.abortRequested;
  return abort ? { kind: 'rollback', reason: `aborted by ${abort.by}: ${abort.reason}`, cause: 'abort' } : manualRollback(run);
}

export async function runCanary(run: ReleaseRun): Promise<CanaryOutcome> {
  const { plan } = run;
  let memory: JudgeMemory = emptyMemory();
  const interval = plan.canary.evaluationInterval;
  const canaryStart = Date.now();
  // Sequential canary-versus-stable tests on counts, trigger gaps and budgets, independent breach windows,
  // evaluations on a fixed clock. Releases started before replay their range comparison (versus-stable.ts).
  const sequential = patched(SEQUENTIAL_RULES);

  for (const [index, spec] of plan.canary.stages.entries()) {
    const abortedBefore = abortOutcome(run);
    if (abortedBefore) return abortedBefore;
    const stage: StageRecord = {
      index, traffic: spec.traffic, state: 'running', startedAt: new Date().toISOString(),
      evaluations: 0, passed: 0, total: plan.signals.length, values: {},
    };
    run.status.stage = stage;
    run.status.stages.push(stage);
    try {
      await run.setWeight(spec.traffic, index);
    } catch (err) {
      // The router did not take the weight after every retry. Failing the workflow would leave
      // the previous stage's traffic with nobody watching it: roll back (retried until the router answers).
      if (!(err instanceof ActivityFailure)) throw err;
      stage.state = 'rolled-back';
      const reason = `the router did not take ${spec.traffic}% for stage ${index + 1}: ${err.cause?.message ?? err.message}`;
      run.record({ key: `weight/${index}/${spec.traffic}/failed`, file: `rollout_stage_${spec.traffic}.txt`, kind: 'stage', body: `${new Date().toISOString()} ${reason}\n` });
      return { kind: 'rollback', reason, cause: 'router' };
    }

    let clock = startStage(plan, index, Date.now());
    const { stageStart } = clock;
    /** The evaluation's place on the stage's clock: every interval from the stage's start. */
    let scheduledAt = stageStart;
    let last: Judgment | null = null;
    const stageKey = `stage/${index + 1}`;

    for (;;) {
      if (sequential) {
        scheduledAt += interval;
        // Late by whole intervals (a slow evaluation, a hold): evaluate now, then keep to the clock.
        const behind = Date.now() - scheduledAt;
        if (behind > 0) scheduledAt += Math.floor(behind / interval) * interval;
        await interruptibleWait(run, scheduledAt - Date.now());
      } else {
        await interruptibleWait(run, interval);
      }
      const aborted = abortOutcome(run);
      if (aborted) return aborted;
      // A manual hold pauses the stage clock until a resume (or the human wait limit).
      if (run.holdRequested) {
        stage.state = 'paused';
        const pausedAt = Date.now();
        const resumed = await condition(() => !run.holdRequested || run.abortRequested !== null || run.rollbackRequested !== null, plan.canary.humanWaitLimit);
        const abortedWhileHeld = abortOutcome(run);
        if (abortedWhileHeld) return abortedWhileHeld;
        if (!resumed) return { kind: 'rollback', reason: `held for longer than ${formatDuration(plan.canary.humanWaitLimit)} without a resume`, cause: 'hold-timeout' };
        clock = { ...clock, stageEnd: clock.stageEnd + Date.now() - pausedAt };
        stage.state = 'running';
      }

      stage.evaluations += 1;
      const lateMs = Math.max(0, Date.now() - scheduledAt);
      const context = () => ({ plan, stageIndex: index, stageStart, stageEnd: clock.stageEnd, now: Date.now(), baseline: run.baseline, memory });
      let results: Record<string, InstantResult>;
      let judgment: Judgment;
      if (sequential) {
        const queries = stageQueries(plan, index, Date.now() - stageStart);
        results = await run.evaluate(queries.unique);
        judgment = judgeCanary(context(), results, queries.byId);
      } else {
        const queries = renderCanaryQueries(plan, 'canary', Date.now() - stageStart);
        // Instant and range queries in parallel: one activity round trip per evaluation.
        const [answers, ranges] = await Promise.all([run.evaluate(queries.unique), compareWithStable(run, stageStart)]);
        results = answers;
        judgment = judgeCanary(context(), results, queries.byId, ranges ? { ranges } : {});
      }
      memory = judgment.memory;
      last = judgment;
      recordEvaluation(run, stage, judgment, results, sequential ? lateMs : undefined);

      const now = Date.now();
      // No promotion while the ledger has not taken the stage's evidence (it waits, as for samples).
      const step = stageStep(plan, index, clock, judgment, now, { evidenceBehind: run.evidenceBehind });
      clock = step.clock;
      const line = warRoomLine({
        elapsedMs: now - canaryStart, stageIndex: index, traffic: spec.traffic, specs: plan.signals, evaluations: judgment.signals, action: step.decision,
        unmeasured: step.decision === 'proceed' ? judgment.unmeasured : [],
      });
      run.warRoom(line, `${stageKey}/eval/${stage.evaluations}`);

      // A rollback acts at once; otherwise the commander's promotion wins over what the stage would do.
      if (judgment.action !== 'rollback' && takePromotion(run)) break;
      if (judgment.action !== 'page-human') run.status.paged = false;
      if (step.page) await run.page(step.page, `${stageKey}/page/${stage.evaluations}`);
      if (step.end?.kind === 'rollback') {
        stage.state = 'rolled-back';
        return step.end;
      }
      if (step.end?.kind === 'proceed') break;
      if (judgment.action === 'page-human' || step.clock.holdDeadline !== null) stage.state = 'holding';
    }

    stage.state = 'passed';
    stage.endedAt = new Date().toISOString();
    if (last?.unmeasured.length) stage.unmeasured = last.unmeasured;
    run.record({
      key: `${stageKey}/summary`, file: `summary_stage_${spec.traffic}.txt`, kind: 'stage',
      body: stageSummary(run, stage, last),
    });
  }
  return { kind: 'promoted' };
}

function recordEvaluation(run: ReleaseRun, stage: StageRecord, judgment: Judgment, results: Record<string, InstantResult>, lateMs?: number): void {
  run.status.signals = judgment.signals;
  run.status.triggers = judgment.triggers;
  run.status.comparisons = judgment.comparisons;
  const { passed, total } = { passed: judgment.signals.filter((s) => s.outcome === 'pass').length, total: judgment.signals.length };
  stage.passed = passed;
  stage.total = total;
  for (const s of judgment.signals) if (s.value !== undefined) stage.values[s.id] = s.value;
  run.record({
    key: `stage/${stage.index + 1}/measurements/${stage.evaluations}`,
    file: `logs_stage_${stage.traffic}.txt`,
    kind: 'measurement',
    mode: 'append',
    body: JSON.stringify({
      at: new Date().toISOString(),
      evaluation: stage.evaluations,
      ...(lateMs === undefined ? {} : { lateMs }),
      action: judgment.action,
      clean: judgment.clean,
      reasons: judgment.reasons,
      signals: judgment.signals,
      triggers: judgment.triggers,
      comparisons: judgment.comparisons,
      raw: results,
    }),
  });
}

function stageSummary(run: ReleaseRun, stage: StageRecord, last: Judgment | null): string {
  const lines = [
    `release: ${run.status.release} (run ${run.status.runId})`,
    `stage: ${stage.index + 1} at ${stage.traffic}%`,
    `started: ${stage.startedAt}`,
    `ended: ${stage.endedAt}`,
    `evaluations: ${stage.evaluations}`,
    `result: ${stage.passed}/${stage.total} signals pass at the last evaluation; ${stage.promotedBy ? `promoted by ${stage.promotedBy}` : stage.unmeasured ? `promoted unmeasured (${stage.unmeasured.join(', ')} lacked samples; the plan says proceed)` : 'proceed'}`,
    '',
    'signal | outcome | value | threshold',
  ];
  for (const s of last?.signals ?? []) lines.push(`${s.id} | ${s.outcome} | ${s.value ?? 'n/a'} | ${s.comparator} ${s.threshold ?? 'n/a'}`);
  lines.push('', 'trigger | condition | detail');
  for (const t of last?.triggers ?? []) lines.push(`${t.id} | ${t.condition === null ? 'unknown' : t.condition} | ${t.detail}`);
  if (last?.trafficShare) lines.push('', `traffic share: ${last.trafficShare.outcome}: ${last.trafficShare.detail}`);
  if (last?.comparisons.length) {
    lines.push('', 'versus stable | outcome | detail');
    for (const c of last.comparisons) lines.push(`${c.id} | ${c.outcome} | ${c.detail}`);
  }
  return lines.join('\n') + '\n';
}
