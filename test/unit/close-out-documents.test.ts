import path from 'node:path';
import { loadPlanFile } from '../../src/plan/loader';
import { PHASES } from '../../src/plan/schema';
import {
  closeOutDocuments, miniRca, oneLiner, oneLinerValue, releaseNotes, stabilityReport, type CloseOutFacts,
} from '../../src/workflows/documents';
import type { FirstNightSummary } from '../../src/workflows/first-night';
import type { ReleaseStatus, StageRecord } from '../../src/workflows/messages';
import { firstNightSchedule, planHour } from '../../src/workflows/rhythm';

const plan = loadPlanFile(path.join(__dirname, '../../plans/v1.4.0.yaml'));
const T = Date.parse('2026-11-21T10:00:00Z');
const iso = (minutes: number) => new Date(T + minutes * 60_000).toISOString();
const HEALTHY = {
  api_p95_latency: '142.3', error_rate_5xx: '0.3', ws_staleness: '11', risk_block_rate: '0.1',
  idempotency_conflicts: '0.2', csp_violations: '2.08', eventloop_lag_p95: '12', gc_pause_avg: '8',
};
const baseline = { csp_violations: '2' };

function stages(count: number): StageRecord[] {
  let start = 0;
  return plan.canary.stages.slice(0, count).map((s, index) => {
    const minutes = s.duration / 60_000;
    const record: StageRecord = {
      index, traffic: s.traffic, state: 'passed', startedAt: iso(start), endedAt: iso(start + minutes),
      evaluations: minutes, passed: 8, total: 8, values: { ...HEALTHY },
    };
    start += minutes;
    return record;
  });
}

function firstNight(breachAt?: number): FirstNightSummary {
  const schedule = firstNightSchedule(plan.firstNight.rhythm);
  const checks = schedule.slice(0, breachAt ?? schedule.length).map((offset, i) => {
    const breach = breachAt === i + 1;
    return {
      n: i + 1, offsetMs: offset, elapsedMs: offset, at: iso(90 + offset / 60_000), hour: planHour(offset, 1), passed: 8, total: 8,
      values: HEALTHY, burn: [breach ? '1h/5m 20x/25x FIRING >14.4x' : '1h/5m 0.3x/0.1x <=14.4x', '6h/30m 0.2x/0.3x <=6x'],
      outcome: breach ? 'breach' as const : 'ok' as const, reasons: breach ? ['SLO burn rate 1h/5m 20x/25x FIRING >14.4x'] : [],
    };
  });
  return { startedAt: iso(90), endedAt: checks.at(-1)!.at, plannedChecks: schedule.length, onBreach: 'rollback', runs: 3, checks };
}

function status(over: Partial<ReleaseStatus>): ReleaseStatus {
  return {
    release: 'release-spark-trading-v1.4.0', runId: 'run-1', service: 'spark-trading', version: 'v1.4.0',
    initiator: 'deniz', incidentCommander: 'bora', phase: 'close-out',
    phases: PHASES.map((phase, i) => ({ phase, state: 'done', startedAt: iso(-30 + i), endedAt: iso(-29 + i) })),
    stage: null, stages: stages(5), canaryWeight: 100, held: false, paged: false, signals: [], triggers: [],
    gates: { go: { id: 'go', state: 'go', approvers: ['bora'], quorum: 1, checklist: [], decisions: [
      { kind: 'gate', gate: 'go', decision: 'go', by: 'bora', reason: '10/10', at: iso(-1), release: 'release-spark-trading-v1.4.0', runId: 'run-1', accepted: true },
    ] } },
    decisions: [], checks: [], warroom: [], verdict: 'running', rollback: null, dryRun: false,
    risks: plan.risks,
    scm: [
      { action: 'freeze', status: 'done', summary: 'labelled 2 open pull request(s) hold-for-canary in acme/spark (0 already were)', at: iso(-30), file: 'freeze_v1.4.0.txt' },
      { action: 'lift-freeze', status: 'done', summary: 'removed hold-for-canary from 2 open pull request(s) in acme/spark', at: iso(1530), file: 'freeze_lift_v1.4.0.txt' },
      { action: 'tag', status: 'not-configured', summary: 'tag v1.4.0: not configured, nothing was done', at: iso(1530), file: 'git_tag_v1.4.0.txt' },
    ],
    firstNight: firstNight(),
    ...over,
  };
}

const released: CloseOutFacts = { plan, status: status({}), verdict: 'released', reason: 'reached 100%', baseline };

describe('the one-liner', () => {
  it('follows the spec\'s format for a clean release', () => {
    expect(oneLiner(released)).toBe(
      'v1.4.0 canary: 1%→100%, every stage 8/8 signals pass; rollback=0; p95=142ms, 5xx=0.3%, ws=11s, risk=0.1/min, idemp=0.2%, csp=baseline+4%, eloop=12ms, gc=8ms.',
    );
  });

  it('gives each stage\'s count when a stage passed on fewer signals (e.g. too few samples at 1%)', () => {
    const s = status({ stages: stages(5).map((st) => (st.index === 1 ? { ...st, passed: 6 } : st)) });
    expect(oneLiner({ ...released, status: s })).toMatch(/^v1\.4\.0 canary: 1%→100%, signals pass per stage 8\/8 6\/8 8\/8 8\/8 8\/8; rollback=0; /);
  });

  it('names the rollback, its cause and where the canary stood', () => {
    const s = status({
      stages: [...stages(2), { ...stages(3)[2]!, state: 'rolled-back', endedAt: undefined, passed: 6, values: { ...HEALTHY, error_rate_5xx: '12.5' } }],
      rollback: { reason: '5xx > 3% for 5 min', cause: 'error_rate_over_3pct', stage: 3, fromTraffic: 25, requestedAt: iso(40), completedAt: iso(40.5), evidence: ['rollback_x.txt'] },
      firstNight: undefined,
    });
    expect(oneLiner({ plan, status: s, verdict: 'rolled-back', reason: 'r', baseline })).toMatch(
      /^v1\.4\.0 canary: 1%→25%, rolled back from 25% at stage 3, last evaluation 6\/8 signals pass; rollback=1 \(error_rate_over_3pct\); p95=142ms, 5xx=12\.5%,/,
    );
  });

  it('shows a baseline-relative signal against its baseline, and says when there was none', () => {
    const csp = plan.signals.find((s) => s.id === 'csp_violations')!;
    expect(oneLinerValue(csp, '1.8', { csp_violations: '2' })).toBe('baseline-10%');
    expect(oneLinerValue(csp, '3', { csp_violations: '0' })).toBe('3/kreq (baseline 0)');
    expect(oneLinerValue(csp, '3', {})).toBe('3/kreq (no baseline)');
    expect(oneLinerValue(plan.signals[0]!, '142.3', {})).toBe('142ms');
  });
});

describe('the release notes', () => {
  const notes = releaseNotes(released);

  it('carry the stage table with traffic, duration, status and signals passed', () => {
    expect(notes).toContain('| stage | traffic | duration | status | signals passed |');
    expect(notes).toContain('| 1 | 1% | 15m | passed | 8/8 |');
    expect(notes).toContain('| 5 | 100% | 30m | passed | 8/8 |');
  });

  it('carry the signal values of every stage, under their thresholds', () => {
    expect(notes).toContain('| stage | API P95 latency (<= 200ms) | 5xx error rate (<= 1%) |');
    expect(notes).toContain('CSP violations (≤ baseline+10%)');
    expect(notes).toContain('| 3 (25%) | 142ms | 0.3% | 11s | 0.1/min | 0.2% | 2.08/kreq | 12ms | 8ms |');
  });

  it('carry the 3 remaining risks with owner, due date, mitigation and status', () => {
    expect(notes).toContain(`| 1 | ${plan.risks[0]!.description} | elif, due 2026-12-05 | ${plan.risks[0]!.mitigation} | mitigating |`);
    expect(notes.match(/^\| [123] \|/gm)).toHaveLength(3 + 3); // 3 stage rows + 3 risk rows
  });

  it('mark missing risks instead of inventing them', () => {
    const text = releaseNotes({ ...released, status: status({ risks: plan.risks.slice(0, 1) }) });
    expect(text).toContain('| 2 | (not entered) | - | - | - |');
    expect(text).toContain('| 3 | (not entered) | - | - | - |');
  });

  it('say "None." without a rollback, and what the freeze lift and tag did', () => {
    expect(notes).toMatch(/## Rollback events\nNone\./);
    expect(notes).toContain('- Freeze lift: removed hold-for-canary from 2 open pull request(s) in acme/spark (freeze_lift_v1.4.0.txt)');
    expect(notes).toContain('- Tag: tag v1.4.0: not configured, nothing was done');
    expect(notes).toContain('34 of 34 planned checks, 0 breach(es), 0 concern(s) paged');
  });

  it('list a rollback with its trigger, timestamp, recovery time and evidence', () => {
    const s = status({
      rollback: { reason: 'first night 5/34: SLO burn rate', cause: 'slo-burn-1h/5m', stage: 5, fromTraffic: 100, requestedAt: iso(165), completedAt: '2026-11-21T12:45:02.500Z', evidence: ['rollback_20261121T124500Z.txt', 'metrics_before_rollback_20261121T124500Z.txt'] },
      firstNight: firstNight(5),
    });
    const text = releaseNotes({ plan, status: s, verdict: 'rolled-back', reason: 'first night breach', baseline });
    expect(text).toContain('| slo-burn-1h/5m: first night 5/34: SLO burn rate | 2026-11-21T12:45:00.000Z | 2.5s | stage 5 at 100% | rollback_20261121T124500Z.txt, metrics_before_rollback_20261121T124500Z.txt |');
    expect(text).toContain('5 of 34 planned checks, 1 breach(es)');
    expect(oneLiner({ plan, status: s, verdict: 'rolled-back', reason: '', baseline })).toContain('rolled back from 100% during the first night (check 5/34), 8/8 signals pass; rollback=1 (slo-burn-1h/5m); p95=142ms');
  });
});

describe('the mini RCA skeleton', () => {
  it('is filled with the run\'s facts and leaves the analysis to humans', () => {
    const s = status({
      stages: [...stages(2), { ...stages(3)[2]!, state: 'rolled-back', endedAt: undefined, passed: 7 }],
      signals: [{ id: 'error_rate_5xx', outcome: 'breach', value: '12.5', threshold: '1', comparator: '<=', detail: '12.5% not <= 1%' }],
      rollback: { reason: '5xx error rate breached 2/3', cause: 'error_rate_5xx', stage: 3, fromTraffic: 25, requestedAt: iso(40), completedAt: iso(41), evidence: ['rollback_a.txt'] },
      firstNight: undefined,
    });
    const rca = miniRca({ plan, status: s, verdict: 'rolled-back', reason: '5xx error rate breached 2/3', baseline });
    expect(rca).toContain('| verdict | rolled-back: 5xx error rate breached 2/3 |');
    expect(rca).toContain('| highest canary traffic | 25% |');
    expect(rca).toContain('| exposure (first canary traffic to the end) | 41m |');
    expect(rca).toContain('error_rate_5xx at 2026-11-21T10:40:00.000Z, recovered in 1m; evidence rollback_a.txt');
    expect(rca).toContain('- Rollback trigger: error_rate_5xx (5xx error rate): 5xx error rate breached 2/3');
    expect(rca).toContain('- error_rate_5xx: breach: 12.5% not <= 1%');
    expect(rca).toContain(`- [ ] ${plan.risks[1]!.mitigation} (deniz, due 2026-12-12;`);
    for (const section of ['## Impact', '## Root cause', '## Contributing factors']) expect(rca).toContain(`${section}\n_(to fill in)_`);
    // The timeline is in time order.
    const times = [...rca.matchAll(/^- (\d{4}-\d\d-\d\dT[\d:.]+Z) /gm)].map((m) => m[1]!);
    expect(times.length).toBeGreaterThan(20);
    expect([...times].sort()).toEqual(times);
    expect(rca).toContain(`- ${iso(40)} ROLLBACK requested from 25% (error_rate_5xx)`);
  });
});

describe('the stability report', () => {
  it('lists every first-night check with its hour, values and burn rate', () => {
    const report = stabilityReport(released)!;
    expect(report).toMatch(/^# Stability report, first 24h: spark-trading v1\.4\.0/);
    expect(report).toContain('Result: **STABLE: every check passed**.');
    expect(report).toContain('34 of 34 planned checks, in 3 workflow run(s)');
    expect(report).toContain('every 15m from 0s to 2h; every 30m from 2h to 6h; every 1h from 6h to 24h');
    expect(report).toContain('1h/5m > 14.4x, 6h/30m > 6x');
    expect(report.match(/^\| \d+ \| \d\d \|/gm)).toHaveLength(34);
    expect(report).toContain('| 34 | 23 |');
  });

  it('names the breach that cut the watch short', () => {
    const report = stabilityReport({ ...released, status: status({ firstNight: firstNight(5) }) })!;
    expect(report).toContain('Result: **BREACH at check 5');
    expect(report).toContain('rolled back**');
  });

  it('is absent when the release never reached the first night', () => {
    expect(stabilityReport({ ...released, status: status({ firstNight: undefined }) })).toBeNull();
  });
});

describe('closeOutDocuments', () => {
  it('writes the one-liner, notes, RCA and report for a watched release', () => {
    expect(closeOutDocuments(released).map((d) => d.file)).toEqual([
      'release_oneliner_v1.4.0.txt', 'release_notes_v1.4.0.md', 'mini_rca_v1.4.0.md', 'stability_report_24h.md',
    ]);
  });

  it('writes nothing before the canary took traffic (a NO-GO)', () => {
    expect(closeOutDocuments({ ...released, verdict: 'no-go', status: status({ stages: [], firstNight: undefined }) })).toEqual([]);
  });
});
