// Close-out (T+24h, spec section 9): the release one-liner and the stage table.
import type { FirstNightResult } from './first-night';
import type { ReleaseRun } from './run';
import { formatValue } from './warroom';

export async function closeOut(run: ReleaseRun, watch: Extract<FirstNightResult, { kind: 'watched' }>): Promise<void> {
  const { plan, status } = run;
  const last = status.stages.at(-1);
  const value = (id: string) => {
    const spec = plan.signals.find((s) => s.id === id);
    return spec ? formatValue(last?.values[id], spec.unit) : 'n/a';
  };
  const first = status.stages[0]?.traffic ?? 0;
  const allClean = status.stages.every((s) => s.passed === s.total);
  const oneLiner =
    `${plan.version} canary: ${first}%→${last?.traffic ?? 0}%, ` +
    `${allClean ? `every stage ${plan.signals.length}/${plan.signals.length} signals pass` : 'not every stage clean'}; ` +
    `rollback=0; ${plan.signals.map((s) => `${s.short}=${value(s.id)}`).join(', ')}; first night ${watch.checks} checks, ${watch.breaches} breaches.`;
  run.record({ key: 'close-out/one-liner', file: `release_oneliner_${plan.version}.txt`, kind: 'document', body: `${oneLiner}\n` });

  const rows = status.stages.map(
    (s) => `| ${s.index + 1} | ${s.traffic}% | ${s.startedAt} → ${s.endedAt ?? '-'} | ${s.state} | ${s.passed}/${s.total} |`,
  );
  const valueRows = status.stages.map((s) => `| ${s.index + 1} | ${plan.signals.map((sig) => formatValue(s.values[sig.id], sig.unit)).join(' | ')} |`);
  const notes = [
    `# ${plan.service} ${plan.version}: release notes`,
    '',
    oneLiner,
    '',
    '## Stages',
    '| stage | traffic | time | status | signals passed |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    '## Signal values per stage (last evaluation)',
    `| stage | ${plan.signals.map((s) => s.short).join(' | ')} |`,
    `|---|${plan.signals.map(() => '---').join('|')}|`,
    ...valueRows,
    '',
    '## Rollbacks',
    'None.',
    '',
  ].join('\n');
  run.record({ key: 'close-out/release-notes', file: `release_notes_${plan.version}.md`, kind: 'document', body: notes });
  await run.flush();
}
