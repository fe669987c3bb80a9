// Backtesting: the plan's canary judgment replayed over a past window of a real Prometheus.
// The same queries (stageQueries) and the same judgment (judgeCanary) as the live canary,
// evaluated at past times, with the stage loop's decisions (stage-step.ts). Pure but for the
// metrics provider it is given. docs/judgment.md ("Backtest") says what it can and cannot tell.
import type { InstantResult, MetricsProvider } from '../adapters/metrics/provider';
import type { ReleasePlan } from '../plan/schema';
import { judgeCanary, renderCanaryQueries, stageQueries } from '../workflows/canary-judgment';
import { emptyMemory, scaled, type Judgment } from '../workflows/decide';
import { warRoomLine, type WarRoomAction } from '../workflows/warroom';
import { startStage, stageStep } from '../workflows/stage-step';

export interface BacktestInput {
  plan: ReleasePlan;
  metrics: MetricsProvider;
  /** The window (ms since the epoch): `from` is the start of stage `firstStage`. */
  from: number;
  to: number;
  /** 0-based stage the window begins in (default 0). */
  firstStage?: number;
}

export interface BaselineValue {
  id: string;
  /** Scaled, as the preflight's baseline; null when stable had no value. */
  value: string | null;
  unit: string;
  detail?: string;
  query: string;
}

export interface BacktestEvaluation {
  at: string;
  stage: number;
  traffic: number;
  /** 1-based within the stage. */
  evaluation: number;
  decision: WarRoomAction;
  line: string;
  /** The judgment of this evaluation, without the memory carried to the next. */
  judgment: Omit<Judgment, 'memory'>;
  /** What a human would have been paged with (nobody answers in a backtest). */
  wouldPage?: string;
}

export interface BacktestStage {
  stage: number;
  traffic: number;
  start: string;
  /** The last evaluation's time. */
  end: string;
  evaluations: number;
  outcome: 'passed' | 'rolled-back' | 'incomplete';
  /** The last evaluation's signals, triggers and traffic share. */
  last?: Pick<Judgment, 'signals' | 'triggers' | 'comparisons' | 'trafficShare' | 'unmeasured'>;
}

export type BacktestVerdict =
  | { kind: 'promoted'; at: string }
  | { kind: 'rollback'; stage: number; traffic: number; at: string; intoStageMs: number; reason: string; cause: string }
  | { kind: 'incomplete'; stage: number; traffic: number; at: string };

export interface BacktestResult {
  service: string;
  version: string;
  from: string;
  to: string;
  evaluationIntervalMs: number;
  baseline: { at: string; track: 'stable'; values: BaselineValue[] };
  stages: BacktestStage[];
  evaluations: BacktestEvaluation[];
  verdict: BacktestVerdict;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Every query at one past time, keyed by query text (as the evaluate activity answers). */
async function evaluateAt(metrics: MetricsProvider, queries: string[], at: number, timeoutMs: number): Promise<Record<string, InstantResult>> {
  const results = await Promise.all(queries.map((q) => metrics.instant(q, new Date(at), timeoutMs)));
  return Object.fromEntries(queries.map((q, i) => [q, results[i]!]));
}

/** The stable track's signal values at `at`, as release.ts takes its baseline before the canary. */
export async function baselineAt(plan: ReleasePlan, metrics: MetricsProvider, at: number): Promise<BaselineValue[]> {
  const queries = renderCanaryQueries(plan, 'stable').byId;
  return Promise.all(plan.signals.map(async (s): Promise<BaselineValue> => {
    const query = queries[s.id]!;
    const result = await metrics.instant(query, new Date(at), plan.metrics.queryTimeout);
    if (result.kind === 'value') return { id: s.id, value: scaled(result.value, s.scale), unit: s.unit, query };
    return { id: s.id, value: null, unit: s.unit, query, detail: result.kind === 'query-error' ? result.message : `no data (${result.reason})` };
  }));
}

export async function backtest(input: BacktestInput): Promise<BacktestResult> {
  const { plan, metrics, from, to } = input;
  const first = input.firstStage ?? 0;
  if (!plan.canary.stages[first]) throw new Error(`the plan has no canary stage ${first + 1}`);
  if (!(to > from)) throw new Error('the window must end after it begins');
  const interval = plan.canary.evaluationInterval;
  const baselineValues = await baselineAt(plan, metrics, from);
  const baseline = Object.fromEntries(baselineValues.map((b) => [b.id, b.value]));
  const evaluations: BacktestEvaluation[] = [];
  const stages: BacktestStage[] = [];
  const result = (verdict: BacktestVerdict): BacktestResult => ({
    service: plan.service, version: plan.version, from: iso(from), to: iso(to), evaluationIntervalMs: interval,
    baseline: { at: iso(from), track: 'stable', values: baselineValues }, stages, evaluations, verdict,
  });

  let memory = emptyMemory();
  let stageStart = from;
  for (let index = first; index < plan.canary.stages.length; index++) {
    const { traffic } = plan.canary.stages[index]!;
    let clock = startStage(plan, index, stageStart);
    const stage: BacktestStage = { stage: index + 1, traffic, start: iso(stageStart), end: iso(stageStart), evaluations: 0, outcome: 'incomplete' };
    stages.push(stage);
    for (;;) {
      const now = clock.previousEvaluation + interval;
      if (now > to) return result({ kind: 'incomplete', stage: index + 1, traffic, at: iso(clock.previousEvaluation) });
      const queries = stageQueries(plan, index, now - clock.stageStart);
      const results = await evaluateAt(metrics, queries.unique, now, plan.metrics.queryTimeout);
      const judgment = judgeCanary({ plan, stageIndex: index, stageStart: clock.stageStart, stageEnd: clock.stageEnd, now, baseline, memory }, results, queries.byId);
      memory = judgment.memory;
      const step = stageStep(plan, index, clock, judgment, now);
      clock = step.clock;
      stage.evaluations += 1;
      stage.end = iso(now);
      const { memory: _carried, ...judged } = judgment;
      stage.last = { signals: judgment.signals, triggers: judgment.triggers, comparisons: judgment.comparisons, unmeasured: judgment.unmeasured, ...(judgment.trafficShare ? { trafficShare: judgment.trafficShare } : {}) };
      evaluations.push({
        at: iso(now), stage: index + 1, traffic, evaluation: stage.evaluations, decision: step.decision, judgment: judged,
        line: warRoomLine({
          elapsedMs: now - from, stageIndex: index, traffic, specs: plan.signals, evaluations: judgment.signals, action: step.decision,
          unmeasured: step.decision === 'proceed' ? judgment.unmeasured : [],
        }),
        ...(step.page ? { wouldPage: step.page } : {}),
      });
      if (step.end?.kind === 'rollback') {
        stage.outcome = 'rolled-back';
        return result({ kind: 'rollback', stage: index + 1, traffic, at: iso(now), intoStageMs: now - clock.stageStart, reason: step.end.reason, cause: step.end.cause });
      }
      if (step.end?.kind === 'proceed') break;
    }
    stage.outcome = 'passed';
    // The next stage takes its weight when this one proceeds.
    stageStart = clock.previousEvaluation;
  }
  return result({ kind: 'promoted', at: iso(stageStart) });
}
