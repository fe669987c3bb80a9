// The operator card (the seeds' pocket reference): one page of markdown that
// carries a plan's stages, signals, triggers, decision matrix, first-night
// rhythm and the command for every gate and for rollback. Rendered from the
// plan, so the card and the release it describes cannot drift apart.
import { CHECK_PHASES } from './catalogue';
import { formatDuration } from './duration';
import type { ReleasePlan, SignalSpec } from './schema';

export interface CardOptions {
  /** The plan file as the operator types it, e.g. plans/v1.4.0.yaml. */
  planFile: string;
  /** The release's workflow ID (release-<service>-<version>). */
  release: string;
}

const SYMBOL: Record<string, string> = { '<': '<', '<=': '≤', '>': '>', '>=': '≥' };

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** A run-of-show time: T-20m, T-0 (T is the start of canary stage 1). */
export function tOffset(ms: number): string {
  return ms === 0 ? 'T-0' : ms < 0 ? `T${formatDuration(ms)}` : `T+${formatDuration(ms)}`;
}

export function passRule(s: SignalSpec): string {
  const bound = s.pass.relativeTo
    ? `baseline + ${s.pass.value}%${s.pass.floor !== undefined ? ` (at least ${s.pass.floor}${s.unit})` : ''}`
    : `${s.pass.value}${s.unit}`;
  return `${SYMBOL[s.pass.comparator]} ${bound}`;
}

function breachRule(s: SignalSpec): string {
  const p = s.policy;
  const when = p.breachesToAct === 1 && p.window === 1 ? 'at once' : `${p.breachesToAct} of the last ${p.window} evaluations`;
  return `${p.onBreach} (${when})`;
}

function canaryTables(plan: ReleasePlan): string[] {
  return [
    ...table(['stage', 'traffic', 'duration'], plan.canary.stages.map((s, i) => [`${i + 1}`, `${s.traffic}%`, formatDuration(s.duration)])),
    '',
    `Evaluated every ${formatDuration(plan.canary.evaluationInterval)}; a stage proceeds only when every signal passes at its end.`,
    '',
    ...table(['#', 'signal', 'passes when', 'on breach', 'no data / query error'], plan.signals.map((s, i) => [
      `${i + 1}`, s.title, passRule(s), breachRule(s), `hold, then ${s.policy.onMissingData} after ${s.policy.missingDataBudget} in a row`,
    ])),
  ];
}

function gateRule(plan: ReleasePlan): string {
  const gate = plan.gates.go;
  return `approvers ${gate.approvers.join(', ')}, quorum ${gate.quorum}${gate.allowInitiator ? '' : '; the initiator may not approve'}; no decision within ${formatDuration(gate.timeout)} is a NO-GO.`;
}

/** Stages, golden signals and the GO gate: the plan at a glance (the workflow's static details). */
export function renderPlanOverview(plan: ReleasePlan): string {
  return [...canaryTables(plan), '', `GO/NO-GO: ${gateRule(plan)}`].join('\n');
}

export function renderOperatorCard(plan: ReleasePlan, opts: CardOptions): string {
  const cli = 'bin/spark-release';
  const r = opts.release;
  const timeline: [string, number, string][] = [
    ['change freeze', plan.timeline.freeze, `open PRs held; announced in ${plan.notifications.deploysChannel}`],
    ['war-room', plan.timeline.warRoom, `${plan.notifications.warRoomChannel}, IC ${plan.incidentCommander}, signal only`],
    ['preflight + blind spots', plan.timeline.preflight, `${plan.checks.preflight.length + plan.checks.blindSpots.length} checks`],
    ['micro blast radius', plan.timeline.blastRadius, `${plan.checks.blastRadius.length} probes of the canary`],
    ['red team', plan.timeline.redTeam, `${plan.checks.redTeam.length} checks and corner cases`],
    ['green button ritual', plan.timeline.greenButton, `${plan.checks.greenButton.length} steps`],
    ['GO/NO-GO', plan.timeline.goNoGo, '10-item checklist, a human decides'],
  ];
  const checkCount = CHECK_PHASES.reduce((n, p) => n + plan.checks[p].length, 0);
  let from = 0;
  const rhythm = plan.firstNight.rhythm.map((step) => {
    const row = [formatDuration(from) === '0s' ? '0h' : formatDuration(from), formatDuration(step.until), formatDuration(step.every), `${Math.round((step.until - from) / step.every)}`];
    from = step.until;
    return row;
  });
  const lines = [
    `# Operator card: ${plan.service} ${plan.version}`,
    '',
    `Generated from \`${opts.planFile}\` by \`${cli} plan card ${opts.planFile}\`; regenerate it, do not edit it.` +
      (plan.timeScale === 1 ? '' : ` Durations are compressed by the plan's time scale ${plan.timeScale}.`),
    '',
    '## Start',
    '```sh',
    `${cli} plan check ${opts.planFile}`,
    `${cli} judge backtest --plan ${opts.planFile} --from <a past release's start> --to <its end>   # the verdict this plan would have reached`,
    `${cli} start ${opts.planFile} --as <you> [--dry-run]     # release ${r}`,
    `${cli} watch ${r}`,
    '```',
    `Temporal UI: filter \`SparkPhase="canary"\` lists every release now in canary; the release's Current Details carry its stage table.`,
    '',
    '## Run-of-show (T = start of canary stage 1)',
    ...table(['when', 'phase', 'what happens'], timeline.map(([phase, at, what]) => [tOffset(at), phase, what])),
    `${checkCount} checks in all, each with a ${formatDuration(plan.checks.timeout)} limit; a check without an implementation is reported, never passed.`,
    '',
    '## GO/NO-GO gate',
    `The 10-item checklist must be 10/10; ${gateRule(plan)}`,
    '```sh',
    `${cli} approve ${r} --as <approver> --reason "10/10, IC agrees"`,
    `${cli} reject  ${r} --as <approver> --reason "<why>"`,
    `${cli} approve ${r} --as <approver> --override --reason "<why the checklist may be short>"`,
    '```',
    '',
    '## Canary and golden signals',
    ...canaryTables(plan),
    '',
    '## Rollback triggers',
    ...table(['trigger', 'group', 'fires when', 'held for', 'action'], plan.triggers.map((t) => [
      t.title, t.group, `${SYMBOL[t.comparator]} ${t.threshold}`, t.for === 0 ? 'at once' : formatDuration(t.for), t.action,
    ])),
    '',
    '## Decision matrix (every evaluation)',
    '- a trigger fires → its action (rollback: at once, to 0%)',
    '- a signal breaches → its "on breach" action once its breach count is reached',
    `- a stage ends without a clean evaluation (bad trend) → hold ${formatDuration(plan.canary.badTrendHold)}, re-evaluate, then roll back`,
    `- no data or a query error → hold; after the budget, page a human; nobody answers within ${formatDuration(plan.canary.humanWaitLimit)} → roll back`,
    '- every signal passes at the end of the stage → proceed to the next stage',
    '',
    '## Steer and roll back',
    '```sh',
    `${cli} hold   ${r} --as <you> --reason "<why>"     # pauses the stage clock`,
    `${cli} resume ${r} --as <you> --reason "<why>"`,
    `${cli} abort  ${r} --as <you> --reason "<why>"     # ROLLBACK: canary to 0%, evidence recorded`,
    `${cli} status ${r}`,
    '```',
    'Every rollback (trigger, breach, abort, cancel, first night) takes the same path and writes `rollback_<ts>.txt`, `metrics_before_rollback_<ts>.txt` and `metrics_after_rollback_<ts>.txt`.',
    '',
    '## First night',
    ...table(['from', 'until', 'every', 'checks'], rhythm),
    '',
    '## War-room line (one per evaluation)',
    '`+03:00 | Stage 1 (1%) | ' + plan.signals.map((s) => `${s.short}=…`).join(' ') + ` | ${plan.signals.length}/${plan.signals.length} PASS | IC: Proceed\``,
    '',
    '## Evidence seal',
    '```sh',
    `${cli} evidence verify ${r}`,
    '```',
    '',
  ];
  return lines.join('\n');
}
