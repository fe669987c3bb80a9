// The canary stage loop (spec section 6): set the weight, evaluate every
// interval, apply the decision matrix, proceed, hold or roll back.
import { ActivityFailure, condition, patched } from '@temporalio/workflow';
import type { InstantResult } from '../adapters/metrics/provider';
import { emptyMemory, type JudgeMemory, type Judgment } from './decide';
import { judgeCanary, renderCanaryQueries, stageQueries } from './canary-judgment';
import type { StageRecord } from './messages';
import type { ReleaseRun } from './run';
import { manualRollback, takePromotion } from './human-control';
import { timerSummary } from './visibility';
import { compareWithStable } from './versus-stable';
import { warRoomLine } from './warroom';

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
  const sequential = patched('sequential-versus-stable');

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

    const stageStart = Date.now();
    let stageEnd = stageStart + spec.duration;
    let previousEvaluation = stageStart;
    /** The evaluation's place on the stage's clock: every interval from the stage's start. */
    let scheduledAt = stageStart;
    let holdDeadline: number | null = null;
    let pagedSince: number | null = null;
    /** When a stage past its hold was paged for data it cannot judge: one page, then the human wait limit. */
    let unjudgedPagedAt: number | null = null;
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
        if (!resumed) return { kind: 'rollback', reason: `held for longer than ${plan.canary.humanWaitLimit / 1000}s without a resume`, cause: 'hold-timeout' };
        stageEnd += Date.now() - pausedAt;
        stage.state = 'running';
      }

      stage.evaluations += 1;
      const lateMs = Math.max(0, Date.now() - scheduledAt);
      let results: Record<string, InstantResult>;
      let judgment: Judgment;
      if (sequential) {
        const queries = stageQueries(plan, index, Date.now() - stageStart);
        results = await run.evaluate(queries.unique);
        judgment = judgeCanary({ plan, stageIndex: index, stageStart, stageEnd, now: Date.now(), baseline: run.baseline, memory }, results, queries.byId);
      } else {
        const queries = renderCanaryQueries(plan, 'canary', Date.now() - stageStart);
        // Instant and range queries in parallel: one activity round trip per evaluation.
        const [answers, ranges] = await Promise.all([run.evaluate(queries.unique), compareWithStable(run, stageStart)]);
        results = answers;
        judgment = judgeCanary({ plan, stageIndex: index, stageStart, stageEnd, now: Date.now(), baseline: run.baseline, memory }, results, queries.byId, ranges ? { ranges } : {});
      }
      memory = judgment.memory;
      last = judgment;
      recordEvaluation(run, stage, judgment, results, sequential ? lateMs : undefined);

      const now = Date.now();
      // Time in which the stage could not be judged does not count toward its dwell: it soaks again.
      if (judgment.missingData) stageEnd += now - previousEvaluation;
      previousEvaluation = now;
      const stageOver = now >= stageEnd;
      // At low traffic the stage outlasts its duration (bounded by maxDwellExtension) until stable can be compared.
      // No promotion while the ledger has not taken the stage's evidence (it waits, as for samples); a rollback acts at once.
      const decision: 'continue' | 'proceed' | 'extend' | Judgment['action'] =
        judgment.action !== 'continue' ? judgment.action : !stageOver ? 'continue'
          : judgment.clean ? (run.evidenceBehind ? 'extend' : 'proceed') : judgment.waitingForSamples ? 'extend' : 'continue';
      const line = warRoomLine({
        elapsedMs: now - canaryStart, stageIndex: index, traffic: spec.traffic, specs: plan.signals, evaluations: judgment.signals, action: decision,
        unmeasured: decision === 'proceed' ? judgment.unmeasured : [],
      });
      run.warRoom(line, `${stageKey}/eval/${stage.evaluations}`);

      if (judgment.action === 'rollback') {
        stage.state = 'rolled-back';
        return { kind: 'rollback', reason: judgment.causes.join('; '), cause: judgment.cause ?? 'decision' };
      }
      if (takePromotion(run)) break;
      if (judgment.action === 'page-human') {
        stage.state = 'holding';
        if (pagedSince === null) {
          pagedSince = now;
          await run.page(`Stage ${index + 1} (${spec.traffic}%) held: ${judgment.causes.join('; ')}`, `${stageKey}/page/${stage.evaluations}`);
        } else if (now - pagedSince >= plan.canary.humanWaitLimit) {
          stage.state = 'rolled-back';
          return { kind: 'rollback', reason: `no human answered within ${plan.canary.humanWaitLimit / 1000}s while held: ${judgment.causes.join('; ')}`, cause: judgment.cause ?? 'missing-data' };
        }
        continue;
      }
      pagedSince = null;
      run.status.paged = false;
      if (decision === 'proceed') break;
      if (stageOver && decision !== 'extend') {
        // The stage ran its time without a clean evaluation: hold and re-evaluate (spec: bad trend).
        stage.state = 'holding';
        holdDeadline ??= now + plan.canary.badTrendHold;
        if (now >= holdDeadline) {
          if (judgment.missingData) {
            if (unjudgedPagedAt === null) {
              unjudgedPagedAt = now;
              await run.page(`Stage ${index + 1} (${spec.traffic}%) cannot be judged: ${judgment.reasons.join('; ')}`, `${stageKey}/page/${stage.evaluations}`);
            } else if (now - unjudgedPagedAt >= plan.canary.humanWaitLimit) {
              stage.state = 'rolled-back';
              return { kind: 'rollback', reason: `stage ${index + 1} could not be judged and no human answered within ${plan.canary.humanWaitLimit / 1000}s: ${judgment.reasons.join('; ')}`, cause: judgment.cause ?? 'missing-data' };
            }
            continue;
          }
          stage.state = 'rolled-back';
          return { kind: 'rollback', reason: `stage ${index + 1} not clean after a ${plan.canary.badTrendHold / 1000}s hold: ${judgment.reasons.join('; ') || 'signals not passing'}`, cause: judgment.cause ?? 'bad-trend' };
        }
      }
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
