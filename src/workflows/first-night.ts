// First night (T+90 min to T+24 h): a child workflow that checks the golden
// signals on the plan's rhythm and continues-as-new to keep its history small.
import { condition, continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ReleaseActivities, ReleaseRef } from '../activities/types';
import type { ReleasePlan } from '../plan/schema';
import { renderCanaryQueries } from './canary';
import { emptyMemory, judge, type JudgeMemory } from './decide';
import { firstNightSchedule, planHour } from './rhythm';
import { warRoomLine } from './warroom';

export interface FirstNightInput {
  release: ReleaseRef;
  plan: ReleasePlan;
  baseline: Record<string, string | null>;
  /** Workflow time the watch began; the schedule is relative to it across continue-as-new. */
  startedAt: number;
  checkIndex: number;
  memory: JudgeMemory | null;
  breaches: number;
}

export type FirstNightResult =
  | { kind: 'watched'; checks: number; breaches: number }
  | { kind: 'rollback'; reason: string; cause: string; checks: number };

/** Checks per run before continuing as new. */
const CHECKS_PER_RUN = 12;

export async function firstNightWorkflow(input: FirstNightInput): Promise<FirstNightResult> {
  const { plan, release } = input;
  const acts = proxyActivities<ReleaseActivities>({
    startToCloseTimeout: plan.metrics.queryTimeout + 30_000,
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 5 },
  });
  const schedule = firstNightSchedule(plan.firstNight.rhythm);
  const queries = renderCanaryQueries(plan, 'canary');
  let memory = input.memory ?? emptyMemory();
  let breaches = input.breaches;

  for (let i = input.checkIndex; i < schedule.length; i++) {
    if (i - input.checkIndex >= CHECKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof firstNightWorkflow>({ ...input, checkIndex: i, memory, breaches });
    }
    const offset = schedule[i]!;
    const wait = input.startedAt + offset - Date.now();
    if (wait > 0) await condition(() => false, wait);
    const results = await acts.evaluate({ queries: queries.unique, timeoutMs: plan.metrics.queryTimeout, flush: [] });
    const judgment = judge({ signals: plan.signals, triggers: plan.triggers, results, queries: queries.byId, baseline: input.baseline, memory, now: Date.now() });
    memory = judgment.memory;
    const action = judgment.action === 'continue' ? 'proceed' : judgment.action;
    const line = warRoomLine({ elapsedMs: offset, stageIndex: plan.canary.stages.length - 1, traffic: 100, specs: plan.signals, evaluations: judgment.signals, action });
    const hh = planHour(offset, plan.timeScale);
    await acts.recordEvidence([
      {
        release: release.release, runId: release.runId, key: `first-night/check/${i + 1}`, file: `hourly_log_${hh}.txt`,
        kind: 'measurement', mode: 'append',
        body: `first night check ${i + 1}/${schedule.length} | ${line}${judgment.reasons.length ? ` | ${judgment.reasons.join('; ')}` : ''}`,
      },
      { release: release.release, runId: release.runId, key: `warroom/first-night/${i + 1}`, file: 'warroom_log.txt', kind: 'warroom', mode: 'append', body: `first night ${line}` },
    ]);
    if (judgment.action === 'rollback') {
      return { kind: 'rollback', reason: `first night check ${i + 1}: ${judgment.reasons.join('; ')}`, cause: judgment.cause ?? 'first-night', checks: i + 1 };
    }
    if (judgment.action !== 'continue') {
      breaches += 1;
      await acts.page({ ...release, reason: `first night check ${i + 1}: ${judgment.reasons.join('; ')}`, key: `page/first-night/${i + 1}` });
    }
  }
  return { kind: 'watched', checks: schedule.length, breaches };
}
