// How a release reads in a terminal.
import type { ReleaseStatus } from '../workflows/messages';
import { readableEvidence } from '../workflows/decide';
import { formatValue } from '../workflows/warroom';

/** Rows as aligned columns (the first row is the header). */
export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

export function formatStatus(s: ReleaseStatus): string {
  const lines: string[] = [
    `${s.release}  run ${s.runId}${s.dryRun ? '  (dry run)' : ''}`,
    `service ${s.service}  version ${s.version}  initiator ${s.initiator}  IC ${s.incidentCommander}`,
    `phase ${s.phase}  verdict ${s.verdict}  canary weight ${s.canaryWeight}%${s.held ? '  HELD' : ''}${s.paged ? '  PAGED' : ''}`,
    '',
    ...table([['phase', 'state', 'started', 'ended', 'summary'], ...s.phases.map((p) => [p.phase, p.state, p.startedAt ?? '', p.endedAt ?? '', p.summary ?? ''])]),
  ];
  if (s.stages.length) {
    lines.push('', ...table([['stage', 'traffic', 'state', 'evaluations', 'signals'], ...s.stages.map((st) => [`${st.index + 1}`, `${st.traffic}%`, st.state, `${st.evaluations}`, `${st.passed}/${st.total}`])]));
  }
  if (s.signals.length) {
    lines.push('', ...table([['signal', 'outcome', 'value', 'bound'], ...s.signals.map((g) => [g.id, g.outcome, g.value ? formatValue(g.value, g.unit ?? '') : '-', g.threshold ? `${g.comparator} ${formatValue(g.threshold, g.unit ?? '')}` : '-'])]));
  }
  if (s.comparisons?.length) {
    lines.push('', ...table([['versus stable', 'outcome', 'canary', 'stable', 'requests', 'evidence'], ...s.comparisons.map((c) => [
      c.id, c.outcome, c.canaryValue ? formatValue(c.canaryValue, c.unit ?? '') : '-', c.stableValue ? formatValue(c.stableValue, c.unit ?? '') : '-',
      `${c.canarySamples}/${c.stableSamples}`, c.test ? `e=${readableEvidence(Number(c.test.logE))} (rejects at ${readableEvidence(Number(c.test.threshold))})` : '-',
    ])]));
  }
  const gate = s.gates.go;
  lines.push('', `gate go: ${gate.state}${gate.deadline && gate.state === 'open' ? ` until ${gate.deadline}` : ''}; checklist ${gate.checklist.filter((i) => i.ok).length}/${gate.checklist.length}`);
  for (const item of gate.checklist) lines.push(`  [${item.ok ? 'x' : ' '}] ${item.item}: ${item.detail}`);
  if (s.decisions.length) {
    lines.push('', 'decisions:');
    for (const d of s.decisions) lines.push(`  ${d.at} ${d.kind}${d.decision ? ` ${d.decision}` : ''} by ${d.by}${d.accepted ? `: ${d.reason}` : ` REFUSED: ${d.refusal}`}`);
  }
  if (s.rollback) lines.push('', `rollback: ${s.rollback.reason} (cause ${s.rollback.cause}, from ${s.rollback.fromTraffic}%, ${s.rollback.completedAt ? `completed ${s.rollback.completedAt}` : 'in progress'})`);
  if (s.warroom.length) lines.push('', 'war-room (latest):', ...s.warroom.slice(-5).map((l) => `  ${l}`));
  return lines.join('\n');
}

/** Lines describing what changed between two statuses, for `watch`. */
export function formatProgress(prev: ReleaseStatus | null, s: ReleaseStatus): string[] {
  const out: string[] = [];
  for (const p of s.phases) {
    const before = prev?.phases.find((x) => x.phase === p.phase);
    if (p.state !== before?.state && p.state !== 'pending') {
      out.push(`phase ${p.phase.padEnd(12)} ${p.state}${p.summary && p.state !== 'running' ? ` (${p.summary})` : ''}`);
    }
  }
  const redTeam = s.redTeamGate;
  for (const item of redTeam?.items ?? []) {
    const before = prev?.redTeamGate?.items.find((i) => i.id === item.id);
    if (item.state === 'open' && !before) out.push(`red-team item ${item.id} awaits a confirmer: ${item.text} (spark-release redteam confirm|decline ${s.release} ${item.id} --note ...)`);
    if (item.state !== 'open' && before?.state !== item.state) out.push(`red-team item ${item.id} ${item.state}${item.by ? ` by ${item.by}` : ''}${item.note ? `: ${item.note}` : ''}`);
  }
  const gate = s.gates.go;
  if (gate.state !== prev?.gates.go.state && gate.state !== 'pending') {
    out.push(`gate go ${gate.state}: checklist ${gate.checklist.filter((i) => i.ok).length}/${gate.checklist.length}`);
    if (gate.state === 'open') for (const item of gate.checklist.filter((i) => !i.ok)) out.push(`  [ ] ${item.item}: ${item.detail}`);
  }
  const seen = new Set(prev?.warroom ?? []);
  for (const line of s.warroom) if (!seen.has(line)) out.push(`  ${line}`);
  for (const d of s.decisions.slice(prev?.decisions.length ?? 0)) {
    out.push(`decision: ${d.kind}${d.decision ? ` ${d.decision}` : ''} by ${d.by}${d.accepted ? `: ${d.reason}` : ` REFUSED: ${d.refusal}`}`);
  }
  if (s.rollback && !prev?.rollback) out.push(`ROLLBACK requested: ${s.rollback.reason}`);
  if (s.rollback?.completedAt && !prev?.rollback?.completedAt) out.push(`rollback complete at ${s.rollback.completedAt}: canary ${s.canaryWeight}%; evidence ${s.rollback.evidence.join(', ')}`);
  return out;
}
