// What the target's Prometheus will tell people: the SLO burn-rate alerts for
// the plan's windows are loaded and evaluating (blind spot 8), none is silenced
// (red team 9), and the scrape targets and dashboards are ready (blind spot 6).
// Rules come from Prometheus' rules API; dashboards from their JSON files.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, projectRoot } from '../../config';
import { parseDuration } from '../../plan/duration';
import { prometheusTargets } from './prometheus';
import { sectionCheck, targetOf, TargetSettingError, verdict } from './target-access';
import type { CheckEnv } from './types';

interface AlertRule {
  name: string;
  query: string;
  /** `for`, in seconds. */
  duration: number;
  labels: Record<string, string>;
  health: string;
  lastError?: string;
  lastEvaluation: string;
}

interface RuleGroup {
  name: string;
  interval: number;
  rules: AlertRule[];
}

async function alertGroups(env: CheckEnv): Promise<{ url: string; groups: RuleGroup[] }> {
  const url = targetOf(env).prometheusUrl ?? loadConfig().prometheusUrl;
  const res = await fetch(`${url}/api/v1/rules?type=alert`, { signal: env.signal });
  if (!res.ok) throw new TargetSettingError(`Prometheus at ${url} answered ${res.status} to /api/v1/rules`);
  const body = (await res.json()) as { data: { groups: RuleGroup[] } };
  return { url, groups: body.data.groups };
}

/** Prometheus' way of writing a window: 1h, 30m, 45s. */
export function promDuration(msValue: number): string {
  if (msValue % 3_600_000 === 0) return `${msValue / 3_600_000}h`;
  if (msValue % 60_000 === 0) return `${msValue / 60_000}m`;
  return `${msValue / 1000}s`;
}

/** SLO rules carry an `slo` label and their long window in `long_window`. */
const sloRules = (groups: RuleGroup[]) => groups.flatMap((g) => g.rules.filter((r) => r.labels.slo).map((rule) => ({ group: g, rule })));

/** Evaluated within the last three intervals of its group (an idle group fires nothing). */
const evaluating = (g: RuleGroup, r: AlertRule) => Date.now() - Date.parse(r.lastEvaluation) < 3 * g.interval * 1000;

/** Prometheus writes a rule it has not evaluated yet with the zero time (0001-01-01). */
const neverEvaluated = (r: AlertRule) => !(Date.parse(r.lastEvaluation) > 0);

/** Right after Prometheus starts, its groups have not run once: wait for the first evaluation, at most two intervals of the slowest group. */
async function evaluatedGroups(env: CheckEnv): Promise<{ url: string; groups: RuleGroup[] }> {
  let seen = await alertGroups(env);
  const bound = Date.now() + 2 * Math.max(0, ...seen.groups.map((g) => g.interval)) * 1000;
  while (sloRules(seen.groups).some(({ rule }) => neverEvaluated(rule)) && Date.now() < bound) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    env.signal.throwIfAborted();
    seen = await alertGroups(env);
  }
  return seen;
}

/** Longest wait for a rule that looks idle to show a new evaluation. */
const RECHECK_MAX_MS = 10_000;

/** Rules that look idle by the worker's clock (a busy worker reads late), read again after two of their group's intervals: idle only if Prometheus' own lastEvaluation did not move. */
async function idleRules(env: CheckEnv, suspects: { group: RuleGroup; rule: AlertRule }[]): Promise<Set<AlertRule>> {
  if (suspects.length === 0) return new Set();
  await new Promise((resolve) => setTimeout(resolve, Math.min(RECHECK_MAX_MS, 2 * Math.max(...suspects.map((s) => s.group.interval)) * 1000)));
  env.signal.throwIfAborted();
  const again = sloRules((await alertGroups(env)).groups);
  return new Set(suspects.filter(({ group, rule }) => {
    const now = again.find((a) => a.group.name === group.name && a.rule.name === rule.name);
    return !now || now.rule.lastEvaluation === rule.lastEvaluation;
  }).map((s) => s.rule));
}

export const blindSloBurnAlerts = sectionCheck((v) => `blind_spots_scan_${v}.txt`, async (env) => {
  const { url, groups } = await evaluatedGroups(env);
  const rules = sloRules(groups);
  const windows = targetOf(env).burnRate.longWindowsMs.map(promDuration);
  const lines = [`${url}: ${rules.length} SLO alert rules`, ...rules.map(({ group, rule }) => `${rule.name} (slo ${rule.labels.slo}, window ${rule.labels.long_window ?? '?'}): health ${rule.health}, last evaluated ${rule.lastEvaluation} (every ${group.interval}s)`)];
  const ofWindows = rules.filter(({ rule }) => windows.includes(rule.labels.long_window ?? ''));
  const idle = await idleRules(env, ofWindows.filter(({ group, rule }) => rule.health === 'ok' && !evaluating(group, rule)));
  const problems: string[] = [];
  for (const w of windows) {
    const ofWindow = rules.filter(({ rule }) => rule.labels.long_window === w);
    if (ofWindow.length === 0) problems.push(`no SLO burn-rate alert for the ${w} window (an alerting rule labelled slo, long_window="${w}")`);
    for (const { rule } of ofWindow) {
      if (rule.health !== 'ok') problems.push(`${rule.name} (${w}) is ${rule.health}${rule.lastError ? `: ${rule.lastError}` : ''}`);
      else if (idle.has(rule)) problems.push(`${rule.name} (${w}) has not been evaluated since ${rule.lastEvaluation}`);
    }
  }
  return verdict('Blind spot 8: SLO burn-rate alerts', lines, problems, `burn-rate alerts for ${windows.join(' and ')} loaded and evaluating`);
});

/** The rule's long window in ms; Infinity when it names none (nothing to compare its `for` with). */
function windowMs(label: string | undefined): number {
  try {
    return label ? parseDuration(label) : Infinity;
  } catch {
    return Infinity;
  }
}

/** Ways a rule is kept from ever firing while it still looks loaded. */
const NEUTRALISED = [/\band\s+on\s*\(\s*\)\s*vector\s*\(\s*0\s*\)/i, /\bunless\s+on\s*\(\s*\)\s*vector\s*\(\s*1\s*\)/i, /\band\s+0\s*$/i, />\s*\+?Inf\s*$/i];
const MUTED_SEVERITIES = ['', 'none', 'silent', 'info'];

export const rtSloAlertSilence = sectionCheck((v) => `redteam_${v}.txt`, async (env) => {
  const { url, groups } = await alertGroups(env);
  const rules = sloRules(groups);
  const problems: string[] = [];
  if (rules.length === 0) problems.push(`${url} has no SLO alert rules (label slo) at all`);
  for (const { rule } of rules) {
    if (NEUTRALISED.some((re) => re.test(rule.query.trim()))) problems.push(`${rule.name} can never fire: its expression is cut off (${rule.query.slice(-40).trim()})`);
    const severity = rule.labels.severity ?? '';
    if (MUTED_SEVERITIES.includes(severity)) problems.push(`${rule.name} has severity "${severity}": nobody is paged`);
    const windowSeconds = windowMs(rule.labels.long_window) / 1000;
    if (rule.duration > windowSeconds) problems.push(`${rule.name} waits ${rule.duration}s (for) before firing, longer than its ${rule.labels.long_window} window`);
  }
  return verdict('Red team 9: SLO alert silence', rules.map(({ rule }) => `${rule.name}: severity ${rule.labels.severity ?? '(none)'}, for ${rule.duration}s, ${rule.query}`), problems, `${rules.length} SLO alerts can fire and page`);
});

interface Dashboard {
  title?: string;
  templating?: { list?: { name: string; current?: { value?: unknown } }[] };
}

/** Blind spot 6: scrape targets as expected and up (preflight 8's rule), and every dashboard variable has a default. */
export const blindPrometheusGrafana = sectionCheck((v) => `blind_spots_scan_${v}.txt`, async (env) => {
  const targets = await prometheusTargets(env);
  const lines = [`scrape targets: ${targets.summary}`];
  const problems = targets.status === 'pass' ? [] : [targets.summary];
  const dashboards = targetOf(env).dashboards;
  if (dashboards.length === 0) problems.push('the plan names no dashboards (target.dashboards): their variables cannot be checked');
  for (const file of dashboards) {
    let board: Dashboard;
    try {
      board = JSON.parse(fs.readFileSync(path.resolve(projectRoot, file), 'utf8')) as Dashboard;
    } catch (err) {
      problems.push(`dashboard ${file}: ${(err as Error).message}`);
      continue;
    }
    const vars = board.templating?.list ?? [];
    const bare = vars.filter((x) => x.current?.value === undefined || x.current.value === '' || (Array.isArray(x.current.value) && x.current.value.length === 0));
    lines.push(`dashboard ${file} (${board.title ?? 'untitled'}): variables ${vars.map((x) => `${x.name}=${JSON.stringify(x.current?.value ?? null)}`).join(', ') || 'none'}`);
    if (bare.length) problems.push(`dashboard ${file}: variables without a default: ${bare.map((x) => x.name).join(', ')}`);
  }
  return verdict('Blind spot 6: Prometheus and Grafana', lines, problems, 'targets complete and up, every dashboard variable has a default');
});
