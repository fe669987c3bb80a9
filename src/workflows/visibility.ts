// What a release shows in the Temporal UI without anyone reading code: search
// attributes to filter by ("all releases now in canary" is SparkPhase="canary"),
// current details that carry the stage table, and activity and timer summaries
// that read like the run-of-show.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributeUpdatePair } from '@temporalio/common';
import {
  CancellationScope, condition, proxySinks, setCurrentDetails, upsertSearchAttributes, type ActivityInterfaceFor, type Sinks,
} from '@temporalio/workflow';
import type { ReleaseActivities } from '../activities/types';
import type { CheckPhase } from '../plan/catalogue';
import { tOffset } from '../plan/card';
import { formatDuration } from '../plan/duration';
import type { Phase, ReleasePlan } from '../plan/schema';
import type { GateState, ReleaseStatus, StageRecord } from './messages';

/** What the workflow tells the worker's metrics (src/metrics/pipeline.ts); never recorded in the history. */
export interface PipelineSinks extends Sinks {
  pipeline: {
    gateClosed(gate: string, outcome: string, waitedSeconds: number): void;
  };
}

/** The search attributes a release sets; scripts/services.sh registers the same list. */
export const SEARCH_ATTRIBUTES = {
  service: defineSearchAttributeKey('SparkService', SearchAttributeType.KEYWORD),
  version: defineSearchAttributeKey('SparkVersion', SearchAttributeType.KEYWORD),
  phase: defineSearchAttributeKey('SparkPhase', SearchAttributeType.KEYWORD),
  stage: defineSearchAttributeKey('SparkStage', SearchAttributeType.INT),
  canaryWeight: defineSearchAttributeKey('SparkCanaryWeight', SearchAttributeType.INT),
  verdict: defineSearchAttributeKey('SparkVerdict', SearchAttributeType.KEYWORD),
} as const;

/** The commands that register the attributes (all, or the named ones) on a real cluster; the dev server gets them at start. */
export function registerSearchAttributesCommand(namespace: string, names?: string[]): string {
  return Object.values(SEARCH_ATTRIBUTES)
    .filter((k) => !names || names.includes(k.name))
    .map((k) => `temporal operator search-attribute create --namespace ${namespace} --name ${k.name} --type ${k.type === 'INT' ? 'Int' : 'Keyword'}`)
    .join('\n');
}

/** Attribute values for a status. The stage is 1-based and absent before the canary. */
export function searchAttributeValues(status: ReleaseStatus): SearchAttributeUpdatePair[] {
  const pairs: SearchAttributeUpdatePair[] = [
    { key: SEARCH_ATTRIBUTES.service, value: status.service },
    { key: SEARCH_ATTRIBUTES.version, value: status.version },
    { key: SEARCH_ATTRIBUTES.phase, value: status.phase },
    // Int attributes take whole numbers; a 0.5% stage shows as 1.
    { key: SEARCH_ATTRIBUTES.canaryWeight, value: Math.round(status.canaryWeight) },
    { key: SEARCH_ATTRIBUTES.verdict, value: status.verdict },
  ];
  if (status.stage) pairs.push({ key: SEARCH_ATTRIBUTES.stage, value: status.stage.index + 1 });
  return pairs;
}

const CHECK_PHASE_TITLES: Record<CheckPhase, string> = {
  preflight: 'Preflight',
  blindSpots: 'Blind spots',
  blastRadius: 'Micro blast radius',
  redTeam: 'Red team and corner cases',
  greenButton: 'Green button ritual',
};

const PHASE_TITLES: Record<Phase, string> = {
  freeze: 'change freeze',
  'war-room': 'war-room opens',
  preflight: 'preflight',
  'blast-radius': 'micro blast radius',
  'red-team': 'red team',
  'green-button': 'green button ritual',
  'go-no-go': 'GO/NO-GO',
  canary: 'canary',
  'first-night': 'first night',
  'close-out': 'close-out',
};

function stageLabel(status: ReleaseStatus): string {
  return status.stage ? `Stage ${status.stage.index + 1} (${status.stage.traffic}%)` : status.phase;
}

const SUMMARY_MAX_BYTES = 200;

function utf8Length(cp: string): number {
  const code = cp.codePointAt(0)!;
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

/** Summaries are single lines of at most 200 UTF-8 bytes (Temporal's limit for a summary). */
export function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const points = [...flat];
  if (points.reduce((n, cp) => n + utf8Length(cp), 0) <= SUMMARY_MAX_BYTES) return flat;
  let bytes = 3; // the ellipsis
  let out = '';
  for (const cp of points) {
    bytes += utf8Length(cp);
    if (bytes > SUMMARY_MAX_BYTES) break;
    out += cp;
  }
  return `${out}…`;
}

/** The activity summary the UI shows in the event history, in the run-of-show's words. */
export function activitySummary(name: keyof ReleaseActivities, args: unknown[], status: ReleaseStatus): string {
  const req = args[0] as Record<string, unknown>;
  switch (name) {
    case 'runChecks': {
      const phase = req.phase as CheckPhase;
      return oneLine(`${CHECK_PHASE_TITLES[phase]}: ${(req.checks as string[]).length} checks`);
    }
    case 'setCanaryWeight':
      return oneLine(`${stageLabel(status)}: route ${req.percent}% of traffic to the canary${req.dryRun ? ' (dry run: recorded only)' : ''}`);
    case 'readCanaryWeight':
      return 'GO/NO-GO checklist: read the canary weight';
    case 'evaluate':
      return oneLine(`${stageLabel(status)}: evaluation ${status.stage?.evaluations ?? ''} (${(req.queries as string[]).length} signal and trigger queries)`);
    case 'rollbackTraffic':
      return oneLine(`ROLLBACK: route 0% of traffic to the canary (from ${status.rollback?.fromTraffic ?? status.canaryWeight}%, ${status.rollback?.cause ?? 'rollback'})`);
    case 'recordRollback':
      return oneLine(`ROLLBACK evidence from ${req.fromTraffic}% to 0% (${req.cause}): ${req.reason}`);
    case 'announce':
      return oneLine(`Announce in ${req.channel}: ${req.text}`);
    case 'page':
      return oneLine(`Page the on-call human: ${req.reason}`);
    case 'recordEvidence':
      return `Seal ${(req as unknown as unknown[]).length} evidence records`;
    default:
      return String(name);
  }
}

/**
 * The activities with a summary on every call. Summaries are user metadata, not
 * part of the command a replay compares, so adding them changes no history.
 */
export function withSummaries(acts: ActivityInterfaceFor<ReleaseActivities>, status: () => ReleaseStatus): ActivityInterfaceFor<ReleaseActivities> {
  return new Proxy(acts, {
    get(target, name: keyof ReleaseActivities) {
      const fn = target[name];
      const call = (...args: unknown[]) => fn.executeWithOptions({ summary: activitySummary(name, args, status()) }, args as never);
      return Object.assign(call, { executeWithOptions: fn.executeWithOptions });
    },
  });
}

/** Summaries of the workflow's timers: what the release is waiting for. */
export const timerSummary = {
  /** `offset`: the phase's time in the plan's timeline, relative to T. */
  phase: (phase: Phase, offset: number) => ({ summary: `Wait for ${tOffset(offset)}: ${PHASE_TITLES[phase]}` }),
  gate: (plan: ReleasePlan) => ({ summary: oneLine(`GO/NO-GO: wait for ${plan.gates.go.approvers.join(', ')} (NO-GO after ${formatDuration(plan.gates.go.timeout)})`) }),
  evaluation: (status: ReleaseStatus) => ({ summary: `${stageLabel(status)}: wait for the next evaluation` }),
};

const STAGE_MARK: Record<StageRecord['state'], string> = {
  passed: 'passed', running: '**running**', holding: '**holding**', paused: '**paused**', 'rolled-back': '**ROLLED BACK**',
};

const PHASE_MARK: Record<ReleaseStatus['phases'][number]['state'], string> = {
  done: ' ✓', running: ' ▶', failed: ' ✗', skipped: ' (skipped)', pending: '',
};

/**
 * The release as the UI's "Current Details" shows it: headline, stage table, gate,
 * last war-room line. Counts read "8 of 8": the UI's markdown turns 8/8 into a fraction.
 */
export function renderCurrentDetails(status: ReleaseStatus, plan: ReleasePlan): string {
  const lines = [
    `**${status.service} ${status.version}**${status.dryRun ? ' (dry run)' : ''}: phase **${status.phase}**, canary weight **${status.canaryWeight}%**, verdict **${status.verdict}**${status.held ? ', **HELD**' : ''}${status.paged ? ', **PAGED**' : ''}`,
    '',
    '| stage | traffic | state | evaluations | signals passed |',
    '|---|---|---|---|---|',
  ];
  plan.canary.stages.forEach((spec, index) => {
    const s = status.stages[index];
    lines.push(s
      ? `| ${index + 1} | ${s.traffic}% | ${STAGE_MARK[s.state]} | ${s.evaluations} | ${s.passed} of ${s.total} |`
      : `| ${index + 1} | ${spec.traffic}% | pending | - | - |`);
  });
  const gate = status.gates.go;
  const passed = gate.checklist.filter((i) => i.ok).length;
  const decided = gate.decisions.filter((d) => d.accepted).map((d) => `${d.decision?.toUpperCase()} by ${d.by}`).join(', ');
  lines.push('', `GO/NO-GO: **${gate.state}**${gate.checklist.length ? `, checklist ${passed} of ${gate.checklist.length}` : ''}${decided ? `, ${decided}` : ''}${gate.state === 'open' && gate.deadline ? `, NO-GO at ${gate.deadline}` : ''}`);
  const phases = status.phases.map((p) => `${p.phase}${PHASE_MARK[p.state]}`);
  lines.push('', `Phases: ${phases.join(' · ')}`);
  const last = status.warroom.at(-1);
  if (last) lines.push('', `War-room: ${last}`);
  if (status.rollback) {
    const r = status.rollback;
    lines.push('', `Rollback from ${r.fromTraffic}% (${r.cause}): ${r.reason}${r.completedAt ? `; completed ${r.completedAt}` : '; in progress'}`);
  }
  return lines.join('\n');
}

/** Seconds a gate stayed open, once it has closed. */
export function gateWaitSeconds(gate: GateState): number | null {
  if (!gate.openedAt || !gate.closedAt) return null;
  return (Date.parse(gate.closedAt) - Date.parse(gate.openedAt)) / 1000;
}

/**
 * Keeps the current details and (when the namespace has them) the search
 * attributes in step with the status, for the life of the workflow, and tells
 * the worker's metrics when a gate closes. It waits on a condition, which adds
 * nothing to the history; an attribute is upserted only when its value changes.
 * Returns a publish-now function: the release's last task calls it, because a workflow that
 * completes does not wake that condition again (the UI would keep the last running state).
 */
export function keepVisible(status: ReleaseStatus, plan: ReleasePlan, searchAttributes: boolean): () => void {
  const { pipeline } = proxySinks<PipelineSinks>();
  let details = '';
  let gateState = status.gates.go.state;
  let published = new Map<string, unknown>();
  const changed = () => searchAttributeValues(status).filter((p) => published.get(p.key.name) !== p.value);
  const publish = () => {
    const gate = status.gates.go;
    if (gate.state !== gateState) {
      const waited = gateState === 'open' ? gateWaitSeconds(gate) : null;
      if (waited !== null) pipeline.gateClosed(gate.id, gate.state, waited);
      gateState = gate.state;
    }
    details = renderCurrentDetails(status, plan);
    setCurrentDetails(details);
    if (!searchAttributes) return;
    const pairs = changed();
    if (pairs.length === 0) return;
    upsertSearchAttributes(pairs);
    published = new Map([...published, ...pairs.map((p) => [p.key.name, p.value] as const)]);
  };
  publish();
  void CancellationScope.nonCancellable(async () => {
    for (;;) {
      await condition(() => renderCurrentDetails(status, plan) !== details || (searchAttributes && changed().length > 0));
      publish();
    }
  });
  return publish;
}
