// The close-out's documents (spec sections 8 and 9), rendered from the run's
// facts: the one-liner, one-page release notes, the mini RCA skeleton and the
// 24 h stability report. Pure text from the status; unit-tested without Temporal.
import Decimal from 'decimal.js';
import { formatDuration } from '../plan/duration';
import type { ReleasePlan, SignalSpec } from '../plan/schema';
import { REMAINING_RISKS } from '../plan/vocabulary';
import type { ReleaseStatus, StageRecord, Verdict } from './messages';
import { formatValue } from './warroom';

export interface CloseOutFacts {
  plan: ReleasePlan;
  status: ReleaseStatus;
  verdict: Verdict;
  reason: string;
  baseline: Record<string, string | null>;
}

export interface CloseOutDocument {
  key: string;
  file: string;
  body: string;
}

const TO_FILL = '_(to fill in)_';

function between(from: string | undefined, to: string | undefined): string {
  if (!from || !to) return '-';
  return formatDuration(Math.max(0, Date.parse(to) - Date.parse(from)));
}

function stageEnd(stage: StageRecord, status: ReleaseStatus): string | undefined {
  return stage.endedAt ?? (stage.state === 'rolled-back' || status.rollback?.stage === stage.index + 1 ? status.rollback?.requestedAt : undefined);
}

/** A signal's value as the one-liner shows it: `baseline+4%` for baseline-relative signals. */
export function oneLinerValue(spec: SignalSpec, value: string | undefined, baseline: Record<string, string | null>): string {
  const base = baseline[spec.id];
  if (value === undefined || !spec.pass.relativeTo) return formatValue(value, spec.unit);
  if (base === undefined || base === null) return `${formatValue(value, spec.unit)} (no baseline)`;
  if (new Decimal(base).isZero()) return `${formatValue(value, spec.unit)} (baseline 0)`;
  const pct = new Decimal(value).div(base).minus(1).mul(100).toDecimalPlaces(0);
  return `baseline${pct.isNegative() ? '' : '+'}${pct.toString()}%`;
}

function causeTitle(plan: ReleasePlan, cause: string): string {
  const named = plan.triggers.find((t) => t.id === cause) ?? plan.signals.find((s) => s.id === cause);
  return named ? `${cause} (${named.title})` : cause;
}

/** `v1.4.0 canary: 1%→100%, every stage 8/8 signals pass; rollback=0; p95=142ms, ...` */
export function oneLiner(f: CloseOutFacts): string {
  const { plan, status } = f;
  const first = status.stages[0];
  const last = status.stages.at(-1);
  const n = plan.signals.length;
  const rb = status.rollback;
  const clean = status.stages.every((s) => s.state === 'passed' && s.passed === s.total);
  // A rollback after the watch returned came from its last check: show that check's values.
  const breach = rb && status.firstNight ? status.firstNight.checks.at(-1) : undefined;
  const where = breach
    ? `rolled back from ${rb!.fromTraffic}% during the first night (check ${breach.n}/${status.firstNight!.plannedChecks}), ${breach.passed}/${n} signals pass`
    : rb ? `rolled back from ${rb.fromTraffic}% at stage ${rb.stage ?? '-'}, last evaluation ${last?.passed ?? 0}/${n} signals pass`
      : clean ? `every stage ${n}/${n} signals pass` : `signals pass per stage ${status.stages.map((s) => `${s.passed}/${s.total}`).join(' ')}`;
  const shown = breach?.values ?? last?.values ?? {};
  const values = plan.signals.map((s) => `${s.short}=${oneLinerValue(s, shown[s.id], f.baseline)}`).join(', ');
  return `${plan.version} canary: ${first?.traffic ?? 0}%→${last?.traffic ?? 0}%, ${where}; rollback=${rb ? `1 (${rb.cause})` : 0}; ${values}.`;
}

function table(header: string[], rows: string[][]): string[] {
  const cell = (c: string) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

function scmLines(status: ReleaseStatus): string[] {
  const latest = new Map((status.scm ?? []).map((o) => [o.action, o] as const));
  const label = { freeze: 'Freeze', 'lift-freeze': 'Freeze lift', tag: 'Tag' } as const;
  return (['freeze', 'lift-freeze', 'tag'] as const).map((a) => `- ${label[a]}: ${latest.get(a)?.summary ?? 'not done'}${latest.get(a) ? ` (${latest.get(a)!.file})` : ''}`);
}

function firstNightLine(status: ReleaseStatus): string {
  const fn = status.firstNight;
  if (!fn) return 'Not reached.';
  const count = (o: string) => fn.checks.filter((c) => c.outcome === o).length;
  return `${fn.checks.length} of ${fn.plannedChecks} planned checks, ${count('breach')} breach(es), ${count('concern')} concern(s) paged; see stability_report_24h.md.`;
}

export function releaseNotes(f: CloseOutFacts): string {
  const { plan, status } = f;
  const go = status.gates.go.decisions.filter((d) => d.accepted && d.decision === 'go').map((d) => `${d.by} (${d.at})`).join(', ') || 'none';
  const stageRows = status.stages.map((s) => [String(s.index + 1), `${s.traffic}%`, between(s.startedAt, stageEnd(s, status)), s.state, `${s.passed}/${s.total}`]);
  const valueRows = status.stages.map((s) => [`${s.index + 1} (${s.traffic}%)`, ...plan.signals.map((sig) => formatValue(s.values[sig.id], sig.unit))]);
  const rb = status.rollback;
  const risks = status.risks ?? [];
  const riskRows = Array.from({ length: REMAINING_RISKS }, (_, i) => {
    const r = risks[i];
    return r ? [String(i + 1), r.description, `${r.owner}, due ${r.due}`, r.mitigation, r.status] : [String(i + 1), '(not entered)', '-', '-', '-'];
  });
  return [
    `# ${plan.service} ${plan.version}: release notes`,
    '',
    `\`${oneLiner(f)}\``,
    '',
    `Verdict: **${f.verdict}** (${f.reason}). Initiator ${status.initiator}, incident commander ${status.incidentCommander}, GO by ${go}, commit ${plan.commit ?? 'not named in the plan'}.`,
    '',
    '## Canary stages',
    ...table(['stage', 'traffic', 'duration', 'status', 'signals passed'], stageRows),
    '',
    '## Signal values per stage (last evaluation of the stage)',
    ...table(['stage', ...plan.signals.map((s) => `${s.title} (${s.pass.relativeTo ? `≤ baseline+${s.pass.value}%` : `${s.pass.comparator} ${s.pass.value}${s.unit}`})`)], valueRows),
    '',
    '## Rollback events',
    ...(rb
      ? table(['trigger', 'timestamp', 'recovery time', 'from', 'evidence'], [[
        `${causeTitle(plan, rb.cause)}: ${rb.reason}`, rb.requestedAt, between(rb.requestedAt, rb.completedAt),
        `stage ${rb.stage ?? '-'} at ${rb.fromTraffic}%`, rb.evidence.join(', ') || 'none recorded',
      ]])
      : ['None.']),
    '',
    '## First night',
    firstNightLine(status),
    '',
    `## Remaining risks (${REMAINING_RISKS})`,
    ...table(['#', 'risk', 'owner and due date', 'mitigation', 'status'], riskRows),
    '',
    '## Close-out',
    ...scmLines(status),
    '',
  ].join('\n');
}

export function miniRca(f: CloseOutFacts): string {
  const { plan, status } = f;
  const rb = status.rollback;
  const events: [string, string][] = [];
  for (const p of status.phases) {
    if (p.startedAt) events.push([p.startedAt, `phase ${p.phase} started`]);
    if (p.endedAt) events.push([p.endedAt, `phase ${p.phase} ${p.state}${p.summary ? ` (${p.summary})` : ''}`]);
  }
  for (const s of status.stages) events.push([s.startedAt, `stage ${s.index + 1} at ${s.traffic}%: ${s.state}, ${s.passed}/${s.total} signals pass at its last evaluation`]);
  for (const d of status.decisions) events.push([d.at, `${d.kind}${d.decision ? ` ${d.decision.toUpperCase()}` : ''} by ${d.by}${d.accepted ? `: ${d.reason}` : ` REFUSED (${d.refusal})`}`]);
  for (const c of status.firstNight?.checks ?? []) if (c.outcome !== 'ok') events.push([c.at, `first night check ${c.n}: ${c.outcome}: ${c.reasons.join('; ')}`]);
  if (rb) {
    events.push([rb.requestedAt, `ROLLBACK requested from ${rb.fromTraffic}% (${rb.cause})`]);
    if (rb.completedAt) events.push([rb.completedAt, 'rollback completed: canary at 0%']);
  }
  events.sort((a, b) => a[0].localeCompare(b[0]));

  const exposureStart = status.stages[0]?.startedAt;
  const exposureEnd = rb?.completedAt ?? status.firstNight?.endedAt ?? stageEnd(status.stages.at(-1)!, status);
  const lastCheck = status.firstNight?.checks.at(-1);
  const detection = rb
    ? [
      `- Rollback trigger: ${causeTitle(plan, rb.cause)}: ${rb.reason}`,
      ...(rb.cause !== 'abort' && lastCheck?.outcome === 'breach'
        ? [`- First night check ${lastCheck.n} at ${lastCheck.at}: burn ${lastCheck.burn.join(', ')}`]
        : status.signals.filter((s) => s.outcome !== 'pass').map((s) => `- ${s.id}: ${s.outcome}: ${s.detail}`)),
      ...status.triggers.filter((t) => t.fired).map((t) => `- trigger ${t.id} fired: ${t.detail}`),
    ]
    : ['- No rollback. Every stage ended clean.'];
  const actions = (status.risks ?? []).map((r) => `- [ ] ${r.mitigation} (${r.owner}, due ${r.due}; risk: ${r.description})`);
  return [
    `# Mini RCA: ${plan.service} ${plan.version}`,
    '',
    `Skeleton written by spark-release at close-out from the run's facts; the sections marked ${TO_FILL} are for the humans.`,
    '',
    '## Facts',
    ...table(['fact', 'value'], [
      ['release', `${status.release} (run ${status.runId})`],
      ['verdict', `${f.verdict}: ${f.reason}`],
      ['initiator / incident commander', `${status.initiator} / ${status.incidentCommander}`],
      ['commit', plan.commit ?? 'not named in the plan'],
      ['highest canary traffic', `${Math.max(0, ...status.stages.map((s) => s.traffic))}%`],
      ['exposure (first canary traffic to the end)', between(exposureStart, exposureEnd)],
      ['rollback', rb ? `${rb.cause} at ${rb.requestedAt}, recovered in ${between(rb.requestedAt, rb.completedAt)}; evidence ${rb.evidence.join(', ') || 'none'}` : 'none'],
      ['first night', firstNightLine(status)],
    ]),
    '',
    '## Timeline (UTC, workflow time)',
    ...events.map(([at, what]) => `- ${at} ${what}`),
    '',
    '## Detection',
    ...detection,
    '',
    '## Impact',
    TO_FILL,
    '',
    '## Root cause',
    TO_FILL,
    '',
    '## Contributing factors',
    TO_FILL,
    '',
    '## What went well, what did not',
    TO_FILL,
    '',
    '## Action items',
    ...(actions.length ? actions : [TO_FILL]),
    '',
  ].join('\n');
}

/** The first night in one page; null when the release never reached it. */
export function stabilityReport(f: CloseOutFacts): string | null {
  const { plan, status } = f;
  const fn = status.firstNight;
  if (!fn) return null;
  const planTime = (ms: number) => formatDuration(Math.round(ms / plan.timeScale));
  let from = 0;
  const rhythm = plan.firstNight.rhythm.map((step) => {
    const text = `every ${planTime(step.every)} from ${planTime(from)} to ${planTime(step.until)}`;
    from = step.until;
    return text;
  });
  const burn = plan.firstNight.burnRate;
  const breach = fn.checks.find((c) => c.outcome === 'breach');
  const concerns = fn.checks.filter((c) => c.outcome === 'concern').length;
  const result = breach
    ? `BREACH at check ${breach.n} (${breach.at}): ${breach.reasons.join('; ')}; ${fn.onBreach === 'rollback' ? 'rolled back' : 'paged a human'}`
    : concerns > 0 ? `stable, with ${concerns} concern(s) paged to a human` : 'STABLE: every check passed';
  const compact = (values: Record<string, string>) => plan.signals.map((s) => `${s.short}=${formatValue(values[s.id], s.unit)}`).join(' ');
  return [
    `# Stability report, first ${planTime(plan.firstNight.rhythm.at(-1)!.until)}: ${plan.service} ${plan.version}`,
    '',
    `Result: **${result}**.`,
    '',
    `- Watched: ${fn.startedAt} to ${fn.endedAt ?? '(cut short)'}: ${fn.checks.length} of ${fn.plannedChecks} planned checks, in ${fn.runs} workflow run(s) (continue-as-new keeps each history small).`,
    `- Rhythm (plan time${plan.timeScale === 1 ? '' : `, run at time scale ${plan.timeScale}`}): ${rhythm.join('; ')}.`,
    `- SLO: ${burn.objective}% good events (error budget ${new Decimal(100).minus(burn.objective).toString()}%); burn-rate alerts, both windows over the factor: ${burn.alerts.map((a) => `${formatDuration(a.long)}/${formatDuration(a.short)} > ${a.factor}x`).join(', ')}.`,
    `- On breach: ${fn.onBreach}.`,
    '',
    '## Checks',
    ...table(['#', 'hour', 'at', 'signals', 'values', 'burn rate', 'outcome'], fn.checks.map((c) => [
      String(c.n), c.hour, c.at, `${c.passed}/${c.total}`, compact(c.values), c.burn.join(', '), c.outcome + (c.reasons.length ? `: ${c.reasons.join('; ')}` : ''),
    ])),
    '',
  ].join('\n');
}

/** Every close-out document the facts allow: none before the canary took traffic. */
export function closeOutDocuments(f: CloseOutFacts): CloseOutDocument[] {
  if (f.status.stages.length === 0) return [];
  const v = f.plan.version;
  const docs: CloseOutDocument[] = [
    { key: 'close-out/one-liner', file: `release_oneliner_${v}.txt`, body: `${oneLiner(f)}\n` },
    { key: 'close-out/release-notes', file: `release_notes_${v}.md`, body: releaseNotes(f) },
    { key: 'close-out/mini-rca', file: `mini_rca_${v}.md`, body: miniRca(f) },
  ];
  const report = stabilityReport(f);
  if (report) docs.push({ key: 'close-out/stability-report', file: 'stability_report_24h.md', body: report });
  return docs;
}
