// Pure canary judgment: observations in, verdict out. No Temporal, no I/O, so it
// runs inside the workflow (deterministically) and in plain unit tests.
// Every comparison goes through decimal.js: float rounding never flips a verdict.
import Decimal from 'decimal.js';
import type { InstantResult } from '../adapters/metrics/provider';
import type { Action, Comparator, SignalSpec, TriggerSpec } from '../plan/schema';

export type Outcome = 'pass' | 'breach' | 'trigger' | 'no-data' | 'query-error' | 'insufficient-samples' | 'inconclusive';

export interface SignalEvaluation {
  id: string;
  outcome: Outcome;
  /** Scaled value as a decimal string, when there was one. */
  value?: string;
  /** The bound actually applied (baseline-relative thresholds resolved). */
  threshold?: string;
  comparator: Comparator;
  detail: string;
}

export interface TriggerEvaluation {
  id: string;
  /** The condition now: true, false, or unknown when the query gave no value. */
  condition: boolean | null;
  value?: string;
  /** When the condition became true (ms, workflow time), kept across unknown evaluations. */
  since: number | null;
  fired: boolean;
  detail: string;
}

export interface SignalMemory {
  recent: Outcome[];
  missingStreak: number;
}

export interface JudgeMemory {
  signals: Record<string, SignalMemory>;
  triggers: Record<string, { since: number | null; missingStreak: number }>;
}

/** What the stage does after an evaluation. */
export type StageAction = 'continue' | 'hold' | 'page-human' | 'rollback';

export interface Judgment {
  memory: JudgeMemory;
  signals: SignalEvaluation[];
  triggers: TriggerEvaluation[];
  action: StageAction;
  /** Every signal passed and no trigger condition is true: the stage may end. */
  clean: boolean;
  /** Why the action, for the war-room and the evidence. */
  reasons: string[];
  /** The trigger or signal that caused a rollback. */
  cause?: string;
  /** Held (not rolled back) because data is missing: only a human or fresh data moves it. */
  missingData: boolean;
}

export function emptyMemory(): JudgeMemory {
  return { signals: {}, triggers: {} };
}

export function compare(value: Decimal.Value, comparator: Comparator, bound: Decimal.Value): boolean {
  const v = new Decimal(value);
  switch (comparator) {
    case '<': return v.lt(bound);
    case '<=': return v.lte(bound);
    case '>': return v.gt(bound);
    case '>=': return v.gte(bound);
  }
}

/** The bound a signal is judged against; null when it depends on a baseline we do not have. */
export function effectiveThreshold(spec: SignalSpec, baseline: Record<string, string | null>): string | null {
  if (!spec.pass.relativeTo) return spec.pass.value;
  const base = baseline[spec.id];
  const floor = spec.pass.floor;
  if (base === undefined || base === null) return floor ?? null;
  const factor = new Decimal(100).plus(spec.pass.comparator.startsWith('<') ? spec.pass.value : new Decimal(spec.pass.value).neg()).div(100);
  const relative = new Decimal(base).mul(factor);
  if (floor === undefined) return relative.toString();
  return (spec.pass.comparator.startsWith('<') ? Decimal.max(relative, floor) : Decimal.min(relative, floor)).toString();
}

/** Multiplies a raw sample by the spec's scale, kept exact. */
export function scaled(raw: string, scale: string): string {
  return new Decimal(raw).mul(scale).toString();
}

function judgeSignal(
  spec: SignalSpec,
  result: InstantResult | undefined,
  baseline: Record<string, string | null>,
): SignalEvaluation {
  const base = { id: spec.id, comparator: spec.pass.comparator };
  if (!result) return { ...base, outcome: 'query-error', detail: 'no result for this query' };
  if (result.kind === 'query-error') return { ...base, outcome: 'query-error', detail: result.message };
  if (result.kind === 'no-data') return { ...base, outcome: 'no-data', detail: `no data (${result.reason})` };
  const value = scaled(result.value, spec.scale);
  const threshold = effectiveThreshold(spec, baseline);
  if (threshold === null) {
    return { ...base, outcome: 'inconclusive', value, detail: 'no baseline to compare with' };
  }
  const ok = compare(value, spec.pass.comparator, threshold);
  return {
    ...base,
    outcome: ok ? 'pass' : 'breach',
    value,
    threshold,
    detail: `${value}${spec.unit} ${ok ? '' : 'not '}${spec.pass.comparator} ${threshold}${spec.unit}`,
  };
}

const MISSING: Outcome[] = ['no-data', 'query-error'];

export interface JudgeInput {
  signals: SignalSpec[];
  triggers: TriggerSpec[];
  /** Results keyed by the resolved query text. */
  results: Record<string, InstantResult>;
  /** Resolved query per signal / trigger id. */
  queries: Record<string, string>;
  baseline: Record<string, string | null>;
  memory: JudgeMemory;
  now: number;
}

/** One evaluation of the decision matrix (spec section 6). */
export function judge(input: JudgeInput): Judgment {
  const memory: JudgeMemory = { signals: { ...input.memory.signals }, triggers: { ...input.memory.triggers } };
  const reasons: string[] = [];
  let action: StageAction = 'continue';
  let cause: string | undefined;
  let missingData = false;
  const escalate = (next: StageAction, why: string, who: string) => {
    const rank: Record<StageAction, number> = { continue: 0, hold: 1, 'page-human': 2, rollback: 3 };
    reasons.push(why);
    if (rank[next] > rank[action]) {
      action = next;
      cause = who;
    }
  };
  const apply = (policyAction: Action, why: string, who: string) => {
    if (policyAction === 'proceed') reasons.push(`${why} (policy: proceed)`);
    else escalate(policyAction === 'hold' ? 'hold' : policyAction, why, who);
  };

  const triggers = input.triggers.map((spec): TriggerEvaluation => {
    const prev = memory.triggers[spec.id] ?? { since: null, missingStreak: 0 };
    const result = input.results[input.queries[spec.id] ?? ''];
    if (!result || result.kind !== 'value') {
      // Unknown neither confirms nor clears the condition: keep its start, count the gap.
      memory.triggers[spec.id] = { since: prev.since, missingStreak: prev.missingStreak + 1 };
      const why = result?.kind === 'query-error' ? result.message : `no data (${result?.kind === 'no-data' ? result.reason : 'missing'})`;
      missingData = true;
      reasons.push(`trigger ${spec.id} cannot be evaluated: ${why}`);
      return { id: spec.id, condition: null, since: prev.since, fired: false, detail: why };
    }
    const value = scaled(result.value, spec.scale);
    const condition = compare(value, spec.comparator, spec.threshold);
    const since = condition ? (prev.since ?? input.now) : null;
    memory.triggers[spec.id] = { since, missingStreak: 0 };
    const fired = condition && since !== null && input.now - since >= spec.for;
    const detail = `${value} ${spec.comparator} ${spec.threshold}` + (condition ? ` for ${Math.round((input.now - (since ?? input.now)) / 1000)}s` : ' is false');
    if (fired) apply(spec.action, `trigger ${spec.id}: ${spec.title} (${value})`, spec.id);
    return { id: spec.id, condition, value, since, fired, detail };
  });

  const signals = input.signals.map((spec) => {
    const evaluation = judgeSignal(spec, input.results[input.queries[spec.id] ?? ''], input.baseline);
    const prev = memory.signals[spec.id] ?? { recent: [], missingStreak: 0 };
    const recent = [...prev.recent, evaluation.outcome].slice(-spec.policy.window);
    const missingStreak = MISSING.includes(evaluation.outcome) ? prev.missingStreak + 1 : 0;
    if (evaluation.outcome === 'inconclusive') reasons.push(`${spec.title}: inconclusive (${evaluation.detail})`);
    memory.signals[spec.id] = { recent, missingStreak };
    const breaches = recent.filter((o) => o === 'breach').length;
    if (evaluation.outcome === 'breach' && breaches >= spec.policy.breachesToAct) {
      apply(spec.policy.onBreach, `${spec.title} breached ${breaches}/${recent.length}: ${evaluation.detail}`, spec.id);
    }
    if (missingStreak >= spec.policy.missingDataBudget) {
      missingData = true;
      apply(spec.policy.onMissingData, `${spec.title}: ${evaluation.outcome} ${missingStreak} times in a row (${evaluation.detail})`, spec.id);
    } else if (MISSING.includes(evaluation.outcome)) {
      missingData = true;
      reasons.push(`${spec.title}: ${evaluation.outcome} (${missingStreak}/${spec.policy.missingDataBudget} of budget)`);
    }
    return evaluation;
  });

  const clean = signals.every((s) => s.outcome === 'pass') && triggers.every((t) => t.condition === false);
  return { memory, signals, triggers, action, clean, reasons, cause, missingData };
}

/** Counts "6/6 PASS" style: signals that passed out of all signals. */
export function passCount(signals: SignalEvaluation[]): { passed: number; total: number } {
  return { passed: signals.filter((s) => s.outcome === 'pass').length, total: signals.length };
}
