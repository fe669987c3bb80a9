// First night (T+90 min to T+24 h, spec section 8): a child workflow that checks
// the golden signals and the SLO burn rate on the plan's rhythm, writes
// hourly_log_<hh>.txt, and continues-as-new every few checks to keep each
// history small. A breach is posted to the war-room and, per the plan, handed
// back to the parent's one rollback path or paged to a human.
import {
  ActivityFailure, CancellationScope, condition, continueAsNew, executeChild, isCancellation, patched, proxyActivities, sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { InstantResult } from '../adapters/metrics/provider';
import type { EvidenceInput } from '../adapters/ledger/ledger';
import type { ReleaseActivities, ReleaseRef } from '../activities/types';
import type { ReleasePlan } from '../plan/schema';
import { describeBurn, judgeBurnRate, renderBurnQueries } from './burn-rate';
import { renderCanaryQueries, SEQUENTIAL_RULES } from './canary-judgment';
import { emptyMemory, judge, type JudgeMemory } from './decide';
import { firstNightSchedule, planHour } from './rhythm';
import { answeredDespiteLedger, HEARTBEAT_TIMEOUT_MS, type ReleaseRun } from './run';
import { warRoomLine } from './warroom';

export interface FirstNightCheck {
  /** 1-based, in schedule order. */
  n: number;
  /** Planned offset from the start of the watch (ms). */
  offsetMs: number;
  /** Workflow time of the evaluation, ms after the start of the watch. */
  elapsedMs: number;
  at: string;
  /** Plan hour 00..23: the hourly_log_<hh>.txt it went to. */
  hour: string;
  passed: number;
  total: number;
  /** Signal values (decimal strings, the signal's unit) by signal id. */
  values: Record<string, string>;
  burn: string[];
  /** ok; concern: paged (missing data, a hold-level signal); breach: the plan's onBreach applied. */
  outcome: 'ok' | 'concern' | 'breach';
  reasons: string[];
}

export interface FirstNightSummary {
  startedAt: string;
  endedAt?: string;
  plannedChecks: number;
  onBreach: ReleasePlan['firstNight']['onBreach'];
  /** Workflow executions so far: 1 + continue-as-new count. */
  runs: number;
  /** Checks that could not judge every signal (no data, query error): over the plan's budget the watch is unverified. */
  missingChecks?: number;
  checks: FirstNightCheck[];
}

export interface FirstNightInput {
  release: ReleaseRef;
  plan: ReleasePlan;
  baseline: Record<string, string | null>;
  warRoomChannel: string;
  /** Workflow time (ms) the watch began; the schedule is relative to it across continue-as-new. */
  startedAt: number;
  checkIndex: number;
  memory: JudgeMemory | null;
  summary: FirstNightSummary | null;
}

export type FirstNightResult =
  | { kind: 'watched'; summary: FirstNightSummary; unverified?: string }
  /** `pending`: evidence the watch had queued, for the parent to write with the rollback's. */
  | { kind: 'rollback'; reason: string; cause: string; summary: FirstNightSummary; pending?: EvidenceInput[] };

/** What the parent sees: the watch's result, or an abort that cancelled it. */
export type WatchOutcome = FirstNightResult | { kind: 'aborted'; reason: string };

/** patched() id: a first-night rollback goes to the parent before the watch's flush and announcement. */
const ROLLBACK_BEFORE_NOTICE = 'first-night-rollback-before-notice';

/** Checks per workflow execution before continuing as new (about 11 history events each). */
export const CHECKS_PER_RUN = 12;

export function warRoomChannel(plan: ReleasePlan): string {
  return plan.notifications.warRoomChannel.replaceAll('{version}', plan.version.replaceAll('.', '-'));
}

export async function firstNightWorkflow(input: FirstNightInput): Promise<FirstNightResult> {
  const { plan, release } = input;
  const acts = proxyActivities<ReleaseActivities>({
    startToCloseTimeout: plan.metrics.queryTimeout + 30_000,
    heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 5 },
  });
  const schedule = firstNightSchedule(plan.firstNight.rhythm);
  const signals = renderCanaryQueries(plan, 'canary');
  const burnQueries = renderBurnQueries(plan.firstNight.burnRate, { service: plan.service, version: plan.version, track: 'canary' });
  const queries = [...new Set([...signals.unique, ...burnQueries.flatMap((a) => [a.long, a.short])])];
  const summary: FirstNightSummary = input.summary
    ? { ...input.summary, runs: input.summary.runs + 1 }
    : { startedAt: new Date(input.startedAt).toISOString(), plannedChecks: schedule.length, onBreach: plan.firstNight.onBreach, runs: 1, checks: [] };
  let memory = input.memory ?? emptyMemory();
  let pending: EvidenceInput[] = [];
  const record = (key: string, file: string, kind: EvidenceInput['kind'], body: string) =>
    pending.push({ release: release.release, runId: release.runId, key, file, kind, mode: 'append', body });
  // A ledger, chat or pager outage never fails the watch: the records stay queued for the next
  // write, and a failed notice is recorded as not delivered.
  const flush = async () => {
    if (pending.length === 0) return;
    try {
      await acts.recordEvidence(pending);
      pending = [];
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
    }
  };
  const notify = async (what: string, send: () => Promise<unknown>) => {
    try {
      await send();
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      record(`first-night/undelivered/${what}`, 'announcements.txt', 'note',
        `${new Date().toISOString()} ${what}: delivery unknown, the activity failed after its retries (${err.cause?.message ?? err.message})`);
    }
  };

  for (let i = input.checkIndex; i < schedule.length; i++) {
    if (i - input.checkIndex >= CHECKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await flush();
      return continueAsNew<typeof firstNightWorkflow>({ ...input, checkIndex: i, memory, summary });
    }
    const offset = schedule[i]!;
    const wait = input.startedAt + offset - Date.now();
    if (wait > 0) await sleep(wait, { summary: `First night: wait for check ${i + 1} of ${schedule.length}` });

    let results: Record<string, InstantResult>;
    try {
      results = await acts.evaluate({ queries, timeoutMs: plan.metrics.queryTimeout, flush: pending });
      pending = [];
    } catch (err) {
      // A failed evaluation is missing data for every query, never a pass; one the ledger alone failed still answered.
      if (!(err instanceof ActivityFailure)) throw err;
      const message = `evaluation failed: ${err.cause?.message ?? err.message}`;
      const at = new Date().toISOString();
      results = answeredDespiteLedger(err) ?? Object.fromEntries(queries.map((q) => [q, { kind: 'query-error', message, resolvedQuery: q, at } as InstantResult]));
    }
    // Each check is final for its moment (no stage to dwell in): lacking samples takes the signal's policy at once.
    const judgment = judge({
      signals: plan.signals, triggers: plan.triggers, results, queries: signals.byId, baseline: input.baseline, memory, now: Date.now(),
      stageOver: true, dwellExtensionOver: true, extensionSpent: true, onInsufficientSamples: plan.canary.onInsufficientSamples,
      // Trigger budgets and gap restarts came with the sequential tests: watches started before keep the old rules.
      ...(patched(SEQUENTIAL_RULES) ? {} : { legacy: {} }),
    });
    memory = judgment.memory;
    const burn = judgeBurnRate(plan.firstNight.burnRate, burnQueries, results);
    const firing = burn.filter((b) => b.firing);

    // A rollback-level signal or trigger, or a burn-rate alert, is a breach; a hold or missing data pages a human.
    const reasons = [...judgment.reasons, ...firing.map((b) => `SLO burn rate ${describeBurn(b)}`)];
    const breach = judgment.action === 'rollback' || firing.length > 0;
    const outcome: FirstNightCheck['outcome'] = breach ? 'breach' : judgment.action === 'continue' ? 'ok' : 'concern';
    const check: FirstNightCheck = {
      n: i + 1, offsetMs: offset, elapsedMs: Date.now() - input.startedAt, at: new Date().toISOString(),
      hour: planHour(offset, plan.timeScale),
      passed: judgment.signals.filter((s) => s.outcome === 'pass').length, total: plan.signals.length,
      values: Object.fromEntries(judgment.signals.flatMap((s) => (s.value === undefined ? [] : [[s.id, s.value]]))),
      burn: burn.map(describeBurn), outcome, reasons,
    };
    summary.checks.push(check);
    const unjudged = judgment.signals.some((sig) => sig.outcome === 'no-data' || sig.outcome === 'query-error');
    if (unjudged) summary.missingChecks = (summary.missingChecks ?? 0) + 1;
    const overBudget = (summary.missingChecks ?? 0) > plan.firstNight.missingDataBudget;

    const action = outcome === 'ok' ? 'continue' : breach && plan.firstNight.onBreach === 'rollback' ? 'rollback' : 'page-human';
    const line = warRoomLine({ elapsedMs: offset, stageIndex: plan.canary.stages.length - 1, traffic: 100, specs: plan.signals, evaluations: judgment.signals, action });
    const label = `first night ${check.n}/${schedule.length}`;
    record(`first-night/check/${check.n}`, `hourly_log_${check.hour}.txt`, 'measurement',
      `${check.at} ${label} | ${line} | burn ${check.burn.join(', ')}${reasons.length ? ` | ${reasons.join('; ')}` : ''}`);
    record(`warroom/first-night/${check.n}`, 'warroom_log.txt', 'warroom', `${label} ${line}`);
    if (outcome === 'ok') continue;

    const missingRollback = overBudget && plan.firstNight.onMissingData === 'rollback';
    const why = `${label}: ${reasons.join('; ')}${missingRollback ? `; ${summary.missingChecks} checks without data, over the budget of ${plan.firstNight.missingDataBudget}` : ''}`;
    const rollingBack = action === 'rollback' || missingRollback;
    const cause = missingRollback && !breach ? 'first-night-missing-data'
      : firing.length > 0 && judgment.action !== 'rollback' ? `slo-burn-${firing[0]!.name}` : judgment.cause ?? 'first-night';
    if (rollingBack && patched(ROLLBACK_BEFORE_NOTICE)) {
      // Traffic first: a ledger or Slack outage must not hold the rollback up. The parent rolls back,
      // then announces it; the queued records go with the result into the rollback's evidence.
      summary.endedAt = check.at;
      return { kind: 'rollback', reason: why, cause, summary, pending };
    }
    await flush();
    await notify(`announce/first-night/${check.n}`, () => acts.announce({
      ...release, channel: input.warRoomChannel, key: `announce/first-night/${check.n}`,
      text: `${breach ? 'FIRST NIGHT BREACH' : 'First night concern'} on ${plan.version}: ${why}. ${rollingBack ? 'Rolling back.' : 'Paging a human.'}`,
    }));
    if (rollingBack) {
      summary.endedAt = check.at;
      return { kind: 'rollback', reason: why, cause, summary };
    }
    await notify(`page/first-night/${check.n}`, () => acts.page({ ...release, reason: why, key: `page/first-night/${check.n}` }));
  }
  await flush();
  summary.endedAt = new Date().toISOString();
  const missing = summary.missingChecks ?? 0;
  const unverified = missing > plan.firstNight.missingDataBudget
    ? `${missing} of ${summary.checks.length} first-night checks had no data (budget ${plan.firstNight.missingDataBudget})`
    : undefined;
  return { kind: 'watched', summary, ...(unverified ? { unverified } : {}) };
}

/** Runs the watch as a child of the release; an abort cancels it (the parent then rolls back). */
export async function watchFirstNight(run: ReleaseRun): Promise<WatchOutcome> {
  const input: FirstNightInput = {
    release: run.ref, plan: run.plan, baseline: run.baseline, warRoomChannel: warRoomChannel(run.plan),
    startedAt: Date.now(), checkIndex: 0, memory: null, summary: null,
  };
  const scope = new CancellationScope();
  const child = scope.run(() => executeChild(firstNightWorkflow, {
    workflowId: `${workflowInfo().workflowId}-first-night`,
    staticSummary: `First night of ${run.plan.service} ${run.plan.version}: the golden signals on the plan's rhythm`,
    args: [input],
  }));
  void condition(() => run.abortRequested !== null).then(() => scope.cancel());
  try {
    const result = await child;
    run.status.firstNight = result.summary;
    return result;
  } catch (err) {
    const abort = run.abortRequested;
    if (abort && isCancellation(err)) return { kind: 'aborted', reason: `aborted by ${abort.by}: ${abort.reason}` };
    if (isCancellation(err)) throw err;
    // A watch that failed cannot vouch for the new version at 100%: the one rollback path takes over.
    const summary: FirstNightSummary = run.status.firstNight ?? {
      startedAt: new Date(input.startedAt).toISOString(), plannedChecks: firstNightSchedule(run.plan.firstNight.rhythm).length,
      onBreach: run.plan.firstNight.onBreach, runs: 1, checks: [],
    };
    return { kind: 'rollback', reason: `the first-night watch failed: ${(err as Error).message}`, cause: 'first-night-failure', summary };
  }
}
