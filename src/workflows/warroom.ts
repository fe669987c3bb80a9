// The war-room line (spec section 6), one per evaluation:
// `+03:00 | Stage 1 (1%) | p95=142ms 5xx=0.2% ws=8s ... | 8/8 PASS | IC: Proceed`
import Decimal from 'decimal.js';
import type { SignalSpec } from '../plan/schema';
import type { SignalEvaluation, StageAction } from './decide';

export function formatValue(value: string | undefined, unit: string): string {
  if (value === undefined) return 'n/a';
  const d = new Decimal(value);
  const rounded = d.abs().gte(100) ? d.toDecimalPlaces(0) : d.abs().gte(10) ? d.toDecimalPlaces(1) : d.toDecimalPlaces(2);
  return `${rounded.toString()}${unit}`;
}

/** After a value: ! a breach, ? a value that cannot be judged yet (too few samples, no baseline). */
const MARKS: Partial<Record<SignalEvaluation['outcome'], string>> = { pass: '', 'insufficient-samples': '?', inconclusive: '?' };

/** What the IC says: the judgment's action, or the stage loop's proceed / extend. */
export type WarRoomAction = StageAction | 'proceed' | 'extend';

const ACTION_WORDS: Record<WarRoomAction, string> = {
  continue: 'Continue',
  proceed: 'Proceed',
  extend: 'Extend dwell, waiting for samples',
  hold: 'Hold',
  'page-human': 'Hold, paging a human',
  rollback: 'Roll back',
};

export function warRoomLine(opts: {
  elapsedMs: number;
  stageIndex: number;
  traffic: number;
  specs: SignalSpec[];
  evaluations: SignalEvaluation[];
  action: WarRoomAction;
  /** Signals the stage proceeds without (too few samples, and the plan says proceed). */
  unmeasured?: string[];
}): string {
  const totalSeconds = Math.max(0, Math.floor(opts.elapsedMs / 1000));
  const mm = String(Math.floor(totalSeconds / 60)).padStart(2, '0');
  const ss = String(totalSeconds % 60).padStart(2, '0');
  const values = opts.specs
    .map((spec) => {
      const e = opts.evaluations.find((x) => x.id === spec.id);
      const shown = e?.value !== undefined ? formatValue(e.value, spec.unit) : `n/a(${e?.outcome ?? 'missing'})`;
      return `${spec.short}=${shown}${e && e.value !== undefined ? MARKS[e.outcome] ?? '!' : ''}`;
    })
    .join(' ');
  const passed = opts.evaluations.filter((e) => e.outcome === 'pass').length;
  const total = opts.specs.length;
  // Only waiting for samples is not a finding: the stage soaks on; anything else needs a look.
  const waiting = opts.evaluations.every((e) => e.outcome === 'pass' || e.outcome === 'insufficient-samples' || e.outcome === 'inconclusive');
  const verdict = passed === total ? 'PASS' : waiting && opts.evaluations.length === total ? 'GATHERING' : 'NOT CLEAN';
  const unmeasured = opts.unmeasured?.length ? ` (promoted unmeasured: ${opts.unmeasured.join(', ')})` : '';
  return `+${mm}:${ss} | Stage ${opts.stageIndex + 1} (${opts.traffic}%) | ${values} | ${passed}/${total} ${verdict} | IC: ${ACTION_WORDS[opts.action]}${unmeasured}`;
}
