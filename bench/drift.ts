// Evaluation drift of a finished release, from its measurement evidence: how late each canary
// evaluation started against the stage's clock (`lateMs`, written since the fixed-clock cadence).
//   npx tsx bench/drift.ts <evidence directory of a release> [--json]
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--'));
if (!dir || !fs.existsSync(dir)) throw new Error('give the evidence directory of a release (evidence/<release>)');
const json = args.includes('--json');

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const rows = fs.readdirSync(dir).filter((f) => /^logs_stage_\d+\.txt$/.test(f))
  .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]))
  .map((file) => {
    const late = fs.readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean)
      .map((line) => (JSON.parse(line) as { lateMs?: number }).lateMs)
      .filter((v): v is number => typeof v === 'number')
      .sort((a, b) => a - b);
    return { stage: `${file.match(/\d+/)![0]}%`, evaluations: late.length, ...(late.length ? { medianMs: quantile(late, 0.5), p95Ms: quantile(late, 0.95), maxMs: late[late.length - 1]! } : {}) };
  });
if (rows.every((r) => r.evaluations === 0)) throw new Error(`no evaluation in ${dir} carries lateMs (a release judged before the fixed-clock cadence?)`);
if (json) console.log(JSON.stringify(rows, null, 2));
else {
  console.log('| stage | evaluations | late, median | p95 | max |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.stage} | ${r.evaluations} | ${r.medianMs ?? '-'} ms | ${r.p95Ms ?? '-'} ms | ${r.maxMs ?? '-'} ms |`);
}
