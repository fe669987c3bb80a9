// `spark-release judge backtest`: its times and how its answer reads in a terminal.
import { formatDuration, parseDuration } from '../plan/duration';
import type { ReleasePlan } from '../plan/schema';
import { ReleaseCommandError } from '../release-client';
import type { BacktestResult, BacktestStage } from '../judge/backtest';
import { readable } from '../workflows/decide';
import { formatValue } from '../workflows/warroom';
import { table } from './format';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** A time given as ISO-8601 (2025-03-03T12:00:00Z), `now`, or relative to now (-2h, now-90m); ms since the epoch. */
export function parseTime(text: string, field: string, now: number): number {
  const t = text.trim();
  const fail = () => new ReleaseCommandError(`${field}: "${text}" is not a time (write ISO-8601 like 2025-03-03T12:00:00Z, or relative to now like -2h, now-90m or now)`);
  if (t === 'now') return now;
  const relative = t.startsWith('now-') ? t.slice(3) : t.startsWith('-') ? t : null;
  if (relative !== null) {
    try {
      return now + parseDuration(relative);
    } catch {
      throw fail();
    }
  }
  if (!ISO_DATE.test(t)) throw fail();
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw fail();
  return ms;
}

const ms = (iso: string) => Date.parse(iso);

function stageLines(plan: ReleasePlan, s: BacktestStage): string[] {
  const head = `stage ${s.stage} (${s.traffic}%) ${s.outcome}: ${s.start} to ${s.end} (${formatDuration(ms(s.end) - ms(s.start))}), ${s.evaluations} evaluation${s.evaluations === 1 ? '' : 's'}`;
  if (!s.last) return [head];
  const titles = new Map(plan.signals.map((g) => [g.id, g.title]));
  const rows = [['signal', 'outcome', 'detail'], ...s.last.signals.map((g) => [titles.get(g.id) ?? g.id, g.outcome, g.detail])];
  const loud = s.last.triggers.filter((t) => t.outcome !== 'pass');
  const lines = [head, ...table(rows).map((l) => `  ${l}`)];
  for (const c of s.last.comparisons) lines.push(`  ${c.id} versus stable: ${c.outcome}: ${c.detail}`);
  if (s.last.trafficShare) lines.push(`  traffic share: ${s.last.trafficShare.outcome}: ${s.last.trafficShare.detail}`);
  lines.push(`  triggers: ${s.last.triggers.length - loud.length} of ${s.last.triggers.length} quiet${loud.length ? `; ${loud.map((t) => `${t.id} ${t.outcome}: ${t.detail}`).join('; ')}` : ''}`);
  if (s.last.unmeasured.length) lines.push(`  promoted unmeasured (the plan says proceed): ${s.last.unmeasured.join(', ')}`);
  return lines;
}

export function formatBacktest(plan: ReleasePlan, r: BacktestResult, source: { planFile: string; prometheus: string }): string {
  const shorts = new Map(plan.signals.map((s) => [s.id, s.short]));
  const baseline = r.baseline.values.map((b) => `${shorts.get(b.id) ?? b.id}=${b.value === null ? `none (${b.detail})` : formatValue(b.value, b.unit)}`).join(' ');
  const firstStage = r.stages[0]?.stage ?? 1;
  const lines = [
    `backtest of ${r.service} ${r.version} (plan ${source.planFile}) on ${source.prometheus}`,
    `window ${r.from} to ${r.to} (${formatDuration(ms(r.to) - ms(r.from))}): stage ${firstStage} begins at --from, each next stage when the one before proceeds; one evaluation every ${formatDuration(r.evaluationIntervalMs)}${plan.timeScale === 1 ? '' : ` (the plan's durations at its time scale ${readable(plan.timeScale)})`}`,
    `baseline (for relative thresholds): the stable track at ${r.baseline.at}: ${baseline}`,
  ];
  if (r.baseline.values.every((b) => b.value === null)) lines.push(`warning: stable has no value for any signal at --from: is ${r.service} recorded in this window?`);
  lines.push('', 'timeline:');
  let stage = 0;
  for (const e of r.evaluations) {
    if (e.stage !== stage) {
      stage = e.stage;
      lines.push(`${r.stages.find((s) => s.stage === stage)!.start}  stage ${stage} (${e.traffic}%) begins`);
    }
    lines.push(`${e.at}  ${e.line}`);
    if (e.wouldPage) lines.push(`${e.at}  WOULD PAGE (nobody answers in a backtest; the stage holds): ${e.wouldPage}`);
  }
  lines.push('', 'stages:', ...r.stages.flatMap((s) => stageLines(plan, s)), '');
  const v = r.verdict;
  if (v.kind === 'promoted') lines.push(`verdict: promoted at ${v.at}: every stage from ${firstStage} to ${plan.canary.stages.length} proceeded`);
  else if (v.kind === 'rollback') lines.push(`verdict: rollback in stage ${v.stage} (${v.traffic}%) at ${v.at}, ${formatDuration(v.intoStageMs)} into the stage: ${v.reason}`);
  else lines.push(`verdict: incomplete: window ended in stage ${v.stage} (${v.traffic}%); last evaluation at ${v.at}`);
  return lines.join('\n');
}
