// Evidence completeness (the seeds' check-artifact-completeness): for the phases
// a release reached, every evidence file its plan owes, and which are missing.
// Everything is read from the ledger: the plan the release recorded at its start,
// the phases it started (timeline keys), its stages, rollbacks and verdict.
import type { EvidenceRecord } from '../adapters/ledger/ledger';
import { ANCHORS_FILE } from '../adapters/ledger/mirror';
import { checkFiles, type CheckPhase } from '../plan/catalogue';
import { PHASES, type Phase, type ReleasePlan } from '../plan/schema';
import { firstNightSchedule, planHour } from '../workflows/rhythm';
import { ANCHOR_RECORD_KEY } from './anchor';

type LedgerView = Pick<EvidenceRecord, 'key' | 'file' | 'body'>;

/** The key the release workflow records its plan under (release_plan_<v>.json). */
export const PLAN_KEY = 'plan';

export interface ExpectedFile {
  file: string;
  /** The phase that owes it; `end` for what every ending writes (verdict, close-out documents). */
  phase: Phase | 'end';
  /** Why it is expected: the check, stage or event that writes it. */
  because: string[];
  present: boolean;
}

export interface CompletenessReport {
  reached: Phase[];
  ended: boolean;
  verdict: string | null;
  expected: ExpectedFile[];
  missing: ExpectedFile[];
}

export class CompletenessError extends Error {
  override name = 'CompletenessError';
}

/** The plan a release recorded at its start, or null when it recorded none. */
export function recordedPlan(records: LedgerView[]): ReleasePlan | null {
  const record = records.find((r) => r.key === PLAN_KEY);
  if (!record) return null;
  let plan: ReleasePlan;
  try {
    plan = JSON.parse(record.body) as ReleasePlan;
  } catch (err) {
    throw new CompletenessError(`the recorded plan (${record.file}) is not JSON: ${(err as Error).message}`);
  }
  if (typeof plan?.version !== 'string' || !plan.checks || !Array.isArray(plan.canary?.stages) || !Array.isArray(plan.firstNight?.rhythm)) {
    throw new CompletenessError(`the recorded plan (${record.file}) lacks version, checks, canary.stages or firstNight.rhythm`);
  }
  return plan;
}

const CHECK_PHASES_OF: Partial<Record<Phase, CheckPhase[]>> = {
  preflight: ['preflight', 'blindSpots'],
  'blast-radius': ['blastRadius'],
  'red-team': ['redTeam'],
  'green-button': ['greenButton'],
};

const ROLLBACK_FILE = /^(?:rollback|metrics_before_rollback|metrics_after_rollback)_(\d{8}T\d{6}Z)\.txt$/;

/** `outside`: files the release's evidence directory holds that are not mirrored from the ledger (ANCHORS_FILE). */
export interface CompletenessOptions {
  outside?: readonly string[];
}

export function checkCompleteness(records: LedgerView[], plan: ReleasePlan, opts: CompletenessOptions = {}): CompletenessReport {
  const v = plan.version;
  const files = new Set([...records.map((r) => r.file), ...(opts.outside ?? [])]);
  const keys = new Set(records.map((r) => r.key));
  const reached = PHASES.filter((p) => keys.has(`timeline/${p}/start`));
  const ended = keys.has('timeline/end');
  const verdict = /^verdict: (\S+)/m.exec(records.find((r) => r.key === 'verdict')?.body ?? '')?.[1] ?? null;
  const has = (p: Phase) => reached.includes(p);
  // A phase owes its files once it is over: a later phase started, or the release ended.
  const over = (p: Phase) => has(p) && (ended || reached.some((q) => PHASES.indexOf(q) > PHASES.indexOf(p)));

  const expected = new Map<string, ExpectedFile>();
  const expect = (file: string, phase: ExpectedFile['phase'], because: string) => {
    const entry = expected.get(file);
    if (entry) {
      if (!entry.because.includes(because)) entry.because.push(because);
    } else {
      expected.set(file, { file, phase, because: [because], present: files.has(file) });
    }
  };

  if (over('freeze')) {
    expect(`release_plan_${v}.json`, 'freeze', 'the plan the release ran');
    expect(`timeline_${v}.txt`, 'freeze', 'phase timeline');
    expect('announcements.txt', 'freeze', 'freeze announcement');
    expect(`freeze_${v}.txt`, 'freeze', 'change freeze (SCM)');
  }
  if (over('war-room')) expect('announcements.txt', 'war-room', 'war-room announcement');
  for (const [phase, checkPhases] of Object.entries(CHECK_PHASES_OF) as [Phase, CheckPhase[]][]) {
    if (!over(phase)) continue;
    for (const cp of checkPhases) {
      if (plan.checks[cp].length === 0) continue;
      expect(`checks_${cp}_${v}.txt`, phase, `${cp} check results`);
      for (const id of plan.checks[cp]) for (const file of checkFiles(id, v)) expect(file, phase, `check ${id}`);
    }
  }
  // The gate closed with a decision or a timeout (an abort while it was open leaves no record).
  if (has('canary') || verdict === 'no-go') expect(`go_nogo_signed_${v}.txt`, 'go-no-go', 'GO/NO-GO decision and signed record');
  // Every anchor the release took is published in the anchors file beside the mirror.
  for (const r of records) {
    const name = ANCHOR_RECORD_KEY.exec(r.key)?.[1];
    if (name) expect(ANCHORS_FILE, name === 'go' ? 'go-no-go' : 'end', `ledger anchor ${name}`);
  }

  if (has('canary')) {
    const stages = plan.canary.stages;
    const stageFiles = (pct: number) => [`rollout_stage_${pct}.txt`, `db_health_stage_${pct}.txt`, `pgbouncer_stage_${pct}.txt`, `logs_stage_${pct}.txt`, `summary_stage_${pct}.txt`];
    const seen = (i: number) => i === 0 || has('first-night') || stages.slice(i).some((s) => stageFiles(s.traffic).some((f) => files.has(f)));
    stages.forEach((stage, i) => {
      if (!seen(i)) return;
      const passed = has('first-night') || (i + 1 < stages.length && seen(i + 1));
      // The stage the release stopped in owes no summary; one still running owes nothing yet.
      if (!passed && !ended) return;
      const owed = passed ? stageFiles(stage.traffic) : stageFiles(stage.traffic).slice(0, 4);
      for (const file of owed) expect(file, 'canary', `stage ${i + 1} (${stage.traffic}%)`);
    });
    if (over('canary') || ended) expect('warroom_log.txt', 'canary', 'war-room lines');
  }

  const stamps = new Set(records.flatMap((r) => ROLLBACK_FILE.exec(r.file)?.slice(1, 2) ?? []));
  for (const stamp of stamps) {
    for (const file of [`rollback_${stamp}.txt`, `metrics_before_rollback_${stamp}.txt`, `metrics_after_rollback_${stamp}.txt`]) expect(file, 'end', `rollback at ${stamp}`);
  }
  if (ended && stamps.size === 0 && (verdict === 'rolled-back' || (verdict === 'aborted' && has('canary')))) {
    expect('rollback_<ts>.txt', 'end', `verdict ${verdict} after the canary took traffic, but no rollback record`);
  }

  if (has('first-night') && (ended || has('close-out'))) {
    const hours = [...new Set(firstNightSchedule(plan.firstNight.rhythm).map((offset) => planHour(offset, plan.timeScale)))];
    // A first night cut short by a rollback owes the hours up to the one it stopped in.
    const lastSeen = hours.filter((h) => files.has(`hourly_log_${h}.txt`)).at(-1) ?? hours[0];
    const owed = verdict === 'released' || verdict === 'released-unverified' ? hours : hours.filter((h) => lastSeen !== undefined && h <= lastSeen);
    for (const h of owed) expect(`hourly_log_${h}.txt`, 'first-night', 'first-night check');
  }

  if (ended) {
    expect(`verdict_${v}.txt`, 'end', `verdict ${verdict ?? '(unknown)'}`);
    expect(`freeze_lift_${v}.txt`, 'end', 'freeze lift (SCM)');
    if (has('canary')) {
      for (const file of [`release_oneliner_${v}.txt`, `release_notes_${v}.md`, `mini_rca_${v}.md`]) expect(file, 'end', 'close-out document');
    }
    if (has('first-night')) expect('stability_report_24h.md', 'end', 'first-night stability report');
    if (verdict === 'released') expect(`git_tag_${v}.txt`, 'end', 'release tag (SCM)');
  }

  const all = [...expected.values()];
  return { reached, ended, verdict, expected: all, missing: all.filter((e) => !e.present) };
}

export function formatCompleteness(report: CompletenessReport): string[] {
  const present = report.expected.length - report.missing.length;
  const span = report.reached.length ? `${report.reached[0]} to ${report.reached.at(-1)}` : 'no phase';
  const state = report.ended ? `ended: ${report.verdict ?? 'verdict not recorded'}` : 'still running';
  const lines = [`completeness: reached ${span} (${state}); ${present} of ${report.expected.length} expected files present${report.missing.length ? `, ${report.missing.length} MISSING` : ''}`];
  const width = Math.max(0, ...report.missing.map((m) => m.file.length));
  for (const m of report.missing) lines.push(`  MISSING  ${m.phase.padEnd(12)} ${m.file.padEnd(width)}  ${m.because.join(', ')}`);
  return lines;
}

/** What `evidence verify` prints after the chain: the report against the given plan, else the recorded one. */
export function completenessOf(records: LedgerView[], plan?: ReleasePlan, opts: CompletenessOptions = {}): { ok: boolean; lines: string[] } {
  const judged = plan ?? recordedPlan(records);
  if (!judged) {
    return { ok: false, lines: ['completeness: unknown: the release recorded no plan (release_plan_<v>.json); pass --plan <file> with its version'] };
  }
  const report = checkCompleteness(records, judged, opts);
  return { ok: report.missing.length === 0, lines: formatCompleteness(report) };
}
