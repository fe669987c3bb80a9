// The canary stage loop (spec section 6): set the weight, evaluate every
// interval, apply the decision matrix, proceed, hold or roll back.
import { condition } from '@temporalio/workflow';
import type { InstantResult } from '../adapters/metrics/provider';
import { renderQuery } from '../adapters/metrics/query';
import { promDuration } from '../plan/duration';
import type { ReleasePlan } from '../plan/schema';
import { emptyMemory, judge, type JudgeMemory, type Judgment } from './decide';
import type { StageRecord } from './messages';
import type { ReleaseRun } from './run';
import { warRoomLine } from './warroom';

export type CanaryOutcome =
  | { kind: 'promoted' }
  | { kind: 'rollback'; reason: string; cause: string };

/** Signal and trigger queries, rendered for the canary and deduplicated. */
export function renderCanaryQueries(plan: ReleasePlan, track: string): { byId: Record<string, string>; unique: string[] } {
  const vars: Record<string, string> = {
    service: plan.service,
    version: plan.version,
    track,
    rate: promDuration(plan.metrics.rateWindow),
  };
  const render = (template: string) => renderQuery(template, vars);
  const byId: Record<string, string> = {};
  for (const s of plan.signals) byId[s.id] = render(s.query);
  for (const t of plan.triggers) byId[t.id] = render(t.query);
  return { byId, unique: [...new Set(Object.values(byId))] };
}

/** Waits up to `ms`, waking early for an abort. */
async function interruptibleWait(run: ReleaseRun, ms: number): Promise<void> {
  if (ms > 0) await condition(() => run.abortRequested !== null, ms);
}

/** The rollback an abort asks for, or null. A function, so TypeScript re-reads the field after awaits. */
function abortOutcome(run: ReleaseRun): CanaryOutcome | null {
  const abort = run.abortRequested;
  return abort ? { kind: 'rollback', reason: `aborted by ${abort.by}: ${abort.reason}`, cause: 'abort' } : null;
}

export async function runCanary(run: ReleaseRun): Promise<CanaryOutcome> {
  const { plan } = run;
  const queries = renderCanaryQueries(plan, 'canary');
  let memory: JudgeMemory = emptyMemory();
  const interval = plan.canary.evaluationInterval;
  const canaryStart = Date.now();

  for (const [index, spec] of plan.canary.stages.entries()) {
    const abortedBefore = abortOutcome(run);
    if (abortedBefore) return abortedBefore;
    const stage: StageRecord = {
      index, traffic: spec.traffic, state: 'running', startedAt: new Date().toISOString(),
      evaluations: 0, passed: 0, total: plan.signals.length, values: {},
    };
    run.status.stage = stage;
    run.status.stages.push(stage);
    await run.setWeight(spec.traffic, index);

    let stageEnd = Date.now() + spec.duration;
    let holdDeadline: number | null = null;
    let pagedSince: number | null = null;
    let last: Judgment | null = null;
    const stageKey = `stage/${index + 1}`;

    for (;;) {
      await interruptibleWait(run, interval);
      const aborted = abortOutcome(run);
      if (aborted) return aborted;
      // A manual hold pauses the stage clock until a resume (or the human wait limit).
      if (run.holdRequested) {
        stage.state = 'paused';
        const pausedAt = Date.now();
        const resumed = await condition(() => !run.holdRequested || run.abortRequested !== null, plan.canary.humanWaitLimit);
        const abortedWhileHeld = abortOutcome(run);
        if (abortedWhileHeld) return abortedWhileHeld;
        if (!resumed) return { kind: 'rollback', reason: `held for longer than ${plan.canary.humanWaitLimit / 1000}s without a resume`, cause: 'hold-timeout' };
        stageEnd += Date.now() - pausedAt;
        stage.state = 'running';
      }

      stage.evaluations += 1;
      const results = await run.evaluate(queries.unique);
      const judgment = judge({
        signals: plan.signals, triggers: plan.triggers, results, queries: queries.byId,
        baseline: run.baseline, memory, now: Date.now(),
      });
      memory = judgment.memory;
      last = judgment;
      recordEvaluation(run, stage, judgment, results);

      const now = Date.now();
      const stageOver = now >= stageEnd;
      const decision: 'continue' | 'proceed' | Judgment['action'] =
        judgment.action !== 'continue' ? judgment.action : stageOver && judgment.clean ? 'proceed' : 'continue';
      const line = warRoomLine({ elapsedMs: now - canaryStart, stageIndex: index, traffic: spec.traffic, specs: plan.signals, evaluations: judgment.signals, action: decision });
      run.warRoom(line, `${stageKey}/eval/${stage.evaluations}`);

      if (judgment.action === 'rollback') {
        stage.state = 'rolled-back';
        return { kind: 'rollback', reason: judgment.reasons.join('; '), cause: judgment.cause ?? 'decision' };
      }
      if (judgment.action === 'page-human') {
        stage.state = 'holding';
        if (pagedSince === null) {
          pagedSince = now;
          await run.page(`Stage ${index + 1} (${spec.traffic}%) held: ${judgment.reasons.join('; ')}`, `${stageKey}/page/${stage.evaluations}`);
        } else if (now - pagedSince >= plan.canary.humanWaitLimit) {
          return { kind: 'rollback', reason: `no human answered within ${plan.canary.humanWaitLimit / 1000}s while held: ${judgment.reasons.join('; ')}`, cause: judgment.cause ?? 'missing-data' };
        }
        continue;
      }
      pagedSince = null;
      run.status.paged = false;
      if (decision === 'proceed') break;
      if (stageOver) {
        // The stage ran its time without a clean evaluation: hold and re-evaluate (spec: bad trend).
        stage.state = 'holding';
        holdDeadline ??= now + plan.canary.badTrendHold;
        if (now >= holdDeadline) {
          if (judgment.missingData) {
            pagedSince = now;
            await run.page(`Stage ${index + 1} (${spec.traffic}%) cannot be judged: ${judgment.reasons.join('; ')}`, `${stageKey}/page/${stage.evaluations}`);
            continue;
          }
          return { kind: 'rollback', reason: `stage ${index + 1} not clean after a ${plan.canary.badTrendHold / 1000}s hold: ${judgment.reasons.join('; ') || 'signals not passing'}`, cause: judgment.cause ?? 'bad-trend' };
        }
      }
    }

    stage.state = 'passed';
    stage.endedAt = new Date().toISOString();
    run.record({
      key: `${stageKey}/summary`, file: `summary_stage_${spec.traffic}.txt`, kind: 'stage',
      body: stageSummary(run, stage, last),
    });
  }
  return { kind: 'promoted' };
}

function recordEvaluation(run: ReleaseRun, stage: StageRecord, judgment: Judgment, results: Record<string, InstantResult>): void {
  run.status.signals = judgment.signals;
  run.status.triggers = judgment.triggers;
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
      action: judgment.action,
      clean: judgment.clean,
      reasons: judgment.reasons,
      signals: judgment.signals,
      triggers: judgment.triggers,
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
    `result: ${stage.passed}/${stage.total} signals pass at the last evaluation; proceed`,
    '',
    'signal | outcome | value | threshold',
  ];
  for (const s of last?.signals ?? []) lines.push(`${s.id} | ${s.outcome} | ${s.value ?? 'n/a'} | ${s.comparator} ${s.threshold ?? 'n/a'}`);
  lines.push('', 'trigger | condition | detail');
  for (const t of last?.triggers ?? []) lines.push(`${t.id} | ${t.condition === null ? 'unknown' : t.condition} | ${t.detail}`);
  return lines.join('\n') + '\n';
}
