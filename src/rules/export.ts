// `spark-release rules export`: the plan's judgment as Prometheus rules, so the
// same triggers page between releases too. Recording rules for every golden
// signal (canary and stable), an alerting rule for every trigger (on the canary),
// and the plan's multi-window SLO burn-rate alerts. One plan, one source of truth.
import Decimal from 'decimal.js';
import YAML from 'yaml';
import { renderQuery } from '../adapters/metrics/query';
import { promDuration } from '../plan/duration';
import type { ReleasePlan, SignalSpec, TriggerSpec } from '../plan/schema';
import { normalUpperTail } from '../workflows/stats';

const TRACKS = ['canary', 'stable'] as const;

interface RecordingRule { record: string; expr: string; labels: Record<string, string> }
interface AlertingRule { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }
interface RuleGroup { name: string; rules: (RecordingRule | AlertingRule)[] }

/** `api_p95_over_400ms` -> `SparkReleaseApiP95Over400ms`. */
export function alertName(id: string): string {
  return 'SparkRelease' + id.split(/[-_]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/** A PromQL duration in the largest whole unit: 3600000 -> 1h, 300000 -> 5m, 1500 -> 2s. */
export function ruleDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return promDuration(ms);
}

export const signalRecord = (id: string) => `spark_release:signal:${id}`;
export const sloRecord = (window: number) => `spark_release:slo_error_ratio:rate${ruleDuration(window)}`;

/** The z above which a one-sided normal test is significant at `level` (bisection on the upper tail). */
export function zForSignificance(level: string): string {
  const target = Number(level);
  let lo = 0;
  let hi = 10;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (normalUpperTail(mid) > target) lo = mid;
    else hi = mid;
  }
  return new Decimal(hi).toDecimalPlaces(4).toString();
}

function scaledExpr(expr: string, scale: string): string {
  return new Decimal(scale).eq(1) ? `(${expr})` : `(${expr}) * ${scale}`;
}

export function exportRules(plan: ReleasePlan): { groups: RuleGroup[] } {
  const vars = (track: string, window = plan.metrics.rateWindow) => ({
    service: plan.service, version: plan.version, track, rate: ruleDuration(window), window: ruleDuration(window),
  });
  const render = (template: string, track: string) => renderQuery(template, vars(track));
  const signalsById = new Map(plan.signals.map((s) => [s.id, s]));
  const base = { service: plan.service };

  const recording: RecordingRule[] = plan.signals.flatMap((s: SignalSpec) => TRACKS.map((track) => ({
    record: signalRecord(s.id),
    expr: scaledExpr(render(s.query, track), s.scale),
    labels: { ...base, track, unit: s.unit },
  })));

  const triggerExpr = (t: TriggerSpec): string => {
    const parts = [`${scaledExpr(render(t.query, 'canary'), t.scale)} ${t.comparator} ${t.threshold}`];
    for (const c of t.and) {
      const signal = c.signal === undefined ? undefined : signalsById.get(c.signal);
      const query = signal ? signal.query : c.query!;
      parts.push(`${scaledExpr(render(query, 'canary'), c.scale ?? signal?.scale ?? '1')} ${c.comparator} ${c.threshold}`);
    }
    if (t.samples) {
      const n = `(${render(t.samples.query, 'canary')})`;
      if (t.samples.minimum > 0) parts.push(`${n} >= ${t.samples.minimum}`);
      if (t.samples.significance) {
        // The workflow's exact binomial test, here as its normal approximation: (k - n p) / sqrt(n p (1 - p)) > z.
        const p = new Decimal(t.threshold).div(t.scale).toString();
        const k = `(${render(t.query, 'canary')}) * ${n}`;
        parts.push(`(${k} - ${n} * ${p}) / sqrt(${n} * ${p} * (1 - ${p})) > ${zForSignificance(t.samples.significance)}`);
      }
    }
    return parts.map((p) => `(${p})`).join(' and on() ');
  };

  const alerting: AlertingRule[] = plan.triggers.map((t) => ({
    alert: alertName(t.id),
    expr: triggerExpr(t),
    ...(t.for > 0 ? { for: ruleDuration(t.for) } : {}),
    labels: { ...base, track: 'canary', trigger: t.id, group: t.group, action: t.action, severity: t.action === 'rollback' ? 'critical' : 'warning' },
    annotations: { summary: `${plan.service} canary: ${t.title}` },
  }));

  const burn = plan.firstNight.burnRate;
  const budget = new Decimal(100).minus(burn.objective).div(100);
  const windows = [...new Set(burn.alerts.flatMap((a) => [a.long, a.short]))].sort((a, b) => a - b);
  const sloRecording: RecordingRule[] = windows.flatMap((w) => TRACKS.map((track) => ({
    record: sloRecord(w),
    expr: renderQuery(burn.errorRatio, vars(track, w)),
    labels: { ...base, track },
  })));
  const sloAlerts: AlertingRule[] = burn.alerts.map((a) => {
    const bound = new Decimal(a.factor).mul(budget).toString();
    return {
      alert: 'SparkReleaseErrorBudgetBurn',
      expr: `${sloRecord(a.long)}{service="${plan.service}"} > ${bound} and ${sloRecord(a.short)}{service="${plan.service}"} > ${bound}`,
      // `slo` and `long_window` are how the blind-spot check finds these (src/activities/checks/alerts.ts).
      labels: { slo: 'availability', long_window: ruleDuration(a.long), short_window: ruleDuration(a.short), factor: a.factor, severity: 'critical' },
      annotations: { summary: `${plan.service} burns its ${burn.objective}% SLO error budget ${a.factor}x too fast over ${ruleDuration(a.long)} and ${ruleDuration(a.short)}` },
    };
  });

  const name = `spark-release-${plan.service}`;
  return {
    groups: [
      { name: `${name}-signals`, rules: recording },
      { name: `${name}-triggers`, rules: alerting },
      { name: `${name}-slo`, rules: [...sloRecording, ...sloAlerts] },
    ],
  };
}

/** The rule file's text, with a header saying where it comes from. */
export function renderRuleFile(plan: ReleasePlan, source: string): string {
  const header = [
    `# Generated by \`spark-release rules export ${source}\` from ${plan.service} ${plan.version}; do not edit.`,
    '# Recording rules for the golden signals, one alert per rollback trigger (canary track),',
    '# and the SLO multi-window burn-rate alerts. Regenerate after changing the plan.',
  ].join('\n');
  return `${header}\n${YAML.stringify(exportRules(plan), { lineWidth: 0 })}`;
}
