// What a canary stage does after one evaluation: proceed, extend the dwell, hold for a bad trend,
// page, roll back. Pure: the live stage loop (canary.ts) and the backtest take the same step.
import type { Judgment } from './decide';
import type { WarRoomAction } from './warroom';
import { formatDuration } from '../plan/duration';
import type { ReleasePlan } from '../plan/schema';

/** A stage's clocks (ms), as canary.ts keeps them in local variables. */
export interface StageClock {
  stageStart: number;
  /** The stage's end so far: its duration plus the time it could not be judged. */
  stageEnd: number;
  previousEvaluation: number;
  /** Set when the stage ran its time without a clean evaluation (the bad-trend hold). */
  holdDeadline: number | null;
  /** When a page-human outcome paged; no answer within the human wait limit rolls back. */
  pagedSince: number | null;
  /** When a stage past its hold was paged for data it cannot judge. */
  unjudgedPagedAt: number | null;
}

export type StageEnd = { kind: 'proceed' } | { kind: 'rollback'; reason: string; cause: string };

export interface StageStep {
  /** The war-room line's action. */
  decision: WarRoomAction;
  clock: StageClock;
  /** The page this evaluation sends (once per hold), if any. */
  page?: string;
  end?: StageEnd;
}

export function startStage(plan: ReleasePlan, index: number, at: number): StageClock {
  const stage = plan.canary.stages[index];
  if (!stage) throw new Error(`the plan has no canary stage ${index + 1}`);
  return { stageStart: at, stageEnd: at + stage.duration, previousEvaluation: at, holdDeadline: null, pagedSince: null, unjudgedPagedAt: null };
}

/** The stage's next step after `judgment`, taken at `now`. `evidenceBehind`: the ledger has not taken the
 * stage's evidence yet, so a clean stage waits (as for samples) instead of proceeding. */
export function stageStep(plan: ReleasePlan, index: number, clock: StageClock, judgment: Judgment, now: number, opts: { evidenceBehind?: boolean } = {}): StageStep {
  const { badTrendHold, humanWaitLimit } = plan.canary;
  const label = `Stage ${index + 1} (${plan.canary.stages[index]!.traffic}%)`;
  const next: StageClock = { ...clock, previousEvaluation: now };
  // Time in which the stage could not be judged does not count toward its dwell: it soaks again.
  if (judgment.missingData) next.stageEnd += now - clock.previousEvaluation;
  const stageOver = now >= next.stageEnd;
  const decision: WarRoomAction = judgment.action !== 'continue' ? judgment.action : !stageOver ? 'continue'
    : judgment.clean ? (opts.evidenceBehind ? 'extend' : 'proceed') : judgment.waitingForSamples ? 'extend' : 'continue';
  const rollback = (reason: string, cause: string): StageStep => ({ decision, clock: next, end: { kind: 'rollback', reason, cause } });

  if (judgment.action === 'rollback') return rollback(judgment.causes.join('; '), judgment.cause ?? 'decision');
  if (judgment.action === 'page-human') {
    if (next.pagedSince === null) {
      next.pagedSince = now;
      return { decision, clock: next, page: `${label} held: ${judgment.causes.join('; ')}` };
    }
    if (now - next.pagedSince >= humanWaitLimit) {
      return rollback(`no human answered within ${formatDuration(humanWaitLimit)} while held: ${judgment.causes.join('; ')}`, judgment.cause ?? 'missing-data');
    }
    return { decision, clock: next };
  }
  next.pagedSince = null;
  if (decision === 'proceed') return { decision, clock: next, end: { kind: 'proceed' } };
  if (stageOver && decision !== 'extend') {
    // The stage ran its time without a clean evaluation: hold and re-evaluate (spec: bad trend).
    next.holdDeadline ??= now + badTrendHold;
    if (now >= next.holdDeadline) {
      if (!judgment.missingData) {
        return rollback(`stage ${index + 1} not clean after a ${formatDuration(badTrendHold)} hold: ${judgment.reasons.join('; ') || 'signals not passing'}`, judgment.cause ?? 'bad-trend');
      }
      if (next.unjudgedPagedAt === null) {
        next.unjudgedPagedAt = now;
        return { decision, clock: next, page: `${label} cannot be judged: ${judgment.reasons.join('; ')}` };
      }
      if (now - next.unjudgedPagedAt >= humanWaitLimit) {
        return rollback(`stage ${index + 1} could not be judged and no human answered within ${formatDuration(humanWaitLimit)}: ${judgment.reasons.join('; ')}`, judgment.cause ?? 'missing-data');
      }
    }
  }
  return { decision, clock: next };
}
