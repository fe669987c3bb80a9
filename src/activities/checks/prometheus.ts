// Checks that read Prometheus: its targets, the baseline, PromQL sanity.
import Decimal from 'decimal.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetricsProvider, ScrapeTarget } from '../../adapters/metrics/provider';
import type { Check } from './types';

/** Longest wait for Prometheus to scrape a target that was down once more. */
const RESCRAPE_MAX_MS = 10_000;

/** A target is down when its next scrape fails too: one missed scrape of a busy target is not an outage. */
async function confirmedTargets(metrics: MetricsProvider, expected: string[], signal: AbortSignal): Promise<ScrapeTarget[]> {
  const first = await metrics.targets();
  const down = first.filter((t) => expected.includes(t.job) && t.health !== 'up');
  if (down.length === 0) return first;
  const deadline = Date.now() + RESCRAPE_MAX_MS;
  for (;;) {
    await sleep(500, undefined, { signal });
    const now = await metrics.targets();
    const rescraped = down.every((d) => now.find((t) => t.job === d.job && t.instance === d.instance)?.lastScrape !== d.lastScrape);
    if (rescraped || Date.now() > deadline) return now;
  }
}

export const prometheusTargets: Check = async ({ metrics, context, version, signal }) => {
  const targets = await confirmedTargets(metrics, Object.keys(context.expectedTargets), signal);
  const lines = ['job\tinstance\thealth\tlast_scrape\tlast_error'];
  for (const t of targets) lines.push(`${t.job}\t${t.instance}\t${t.health}\t${t.lastScrape}\t${t.lastError}`);
  const problems: string[] = [];
  for (const [job, expected] of Object.entries(context.expectedTargets)) {
    const ofJob = targets.filter((t) => t.job === job);
    const up = ofJob.filter((t) => t.health === 'up').length;
    if (ofJob.length !== expected) problems.push(`job ${job}: ${ofJob.length} targets, expected ${expected}`);
    if (up !== ofJob.length) problems.push(`job ${job}: ${ofJob.length - up} of ${ofJob.length} targets down`);
  }
  if (Object.keys(context.expectedTargets).length === 0) problems.push('the plan expects no scrape jobs (metrics.expectedTargets is empty)');
  const summary = problems.length ? problems.join('; ') : `${targets.length} targets, every expected job complete and up`;
  lines.push('', `result: ${problems.length ? 'FAIL' : 'PASS'}: ${summary}`);
  return { status: problems.length ? 'fail' : 'pass', summary, files: { [`prom_targets_${version}.txt`]: lines.join('\n') + '\n' } };
};

/** Snapshot of every golden signal before the canary: the reference for baseline-relative thresholds. */
export const baselineMetrics: Check = async ({ metrics, context, version }) => {
  const data: Record<string, string | null> = {};
  const prom: string[] = [`# baseline of ${version}, taken ${new Date().toISOString()}`];
  const summary: string[] = [];
  const missing: string[] = [];
  for (const [id, q] of Object.entries(context.signalQueries)) {
    const result = await metrics.instant(q.query);
    prom.push(`# ${id}: ${q.query}`);
    if (result.kind === 'value') {
      const value = new Decimal(result.value).mul(q.scale).toString();
      data[id] = value;
      prom.push(`spark_baseline{signal="${id}",unit="${q.unit}"} ${value}`);
      summary.push(`${id}: ${value}${q.unit}`);
    } else {
      data[id] = null;
      missing.push(id);
      summary.push(`${id}: ${result.kind}${result.kind === 'query-error' ? ` (${result.message})` : ` (${result.reason})`}`);
    }
  }
  // Stable traffic carries the baseline before any canary weight; no data means no baseline, not zero.
  const status = missing.length === 0 ? 'pass' : 'fail';
  return {
    status,
    summary: missing.length ? `no baseline for ${missing.join(', ')}` : `${Object.keys(data).length} signals captured`,
    files: { [`baseline_${version}.prom`]: prom.join('\n') + '\n', [`baseline_summary_${version}.txt`]: summary.join('\n') + '\n' },
    data,
  };
};

/** PromQL sanity: every signal's query runs on the worker's Prometheus and finds series; one that answers nothing cannot judge the canary. */
export const microProm: Check = async ({ metrics, context, version }) => {
  const lines: string[] = [];
  const failing: string[] = [];
  const blind: string[] = [];
  for (const [id, q] of Object.entries(context.signalQueries)) {
    const result = await metrics.instant(q.query);
    lines.push(`# ${id} -> ${result.kind}${result.kind === 'value' ? ` ${result.value}` : result.kind === 'query-error' ? ` ${result.message}` : ` ${result.reason}`}`, `${q.query}`, '');
    if (result.kind === 'query-error') failing.push(`${id}: ${result.message}`);
    else if (result.kind !== 'value') blind.push(`${id} (${result.reason})`);
  }
  const problems = [
    ...(failing.length ? [`queries fail: ${failing.join('; ')}`] : []),
    ...(blind.length ? [`queries find no series, so these signals cannot be judged: ${blind.join(', ')}`] : []),
  ];
  return {
    status: problems.length ? 'fail' : 'pass',
    summary: problems.length ? problems.join('; ') : `${lines.length / 3} signal queries parse, run and find series`,
    files: { [`micro_prom_${version}.promql`]: lines.join('\n') },
  };
};
