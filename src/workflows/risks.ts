// The remaining risks of a release (close-out, spec section 9): the plan's,
// until a person of the plan replaces them with the setRisks update. They are
// final once the close-out has written the release notes.
import { setHandler } from '@temporalio/workflow';
import { REMAINING_RISKS } from '../plan/vocabulary';
import type { RemainingRisk } from '../plan/risks';
import { setRisksUpdate, type RisksInput } from './messages';
import type { ReleaseRun } from './run';
import { objectOf, person, quote, reasonOf, RefusedError, text } from './validate';

const RISK_STATUSES: RemainingRisk['status'][] = ['open', 'mitigating', 'accepted', 'closed'];
const MAX_RISK_TEXT = 500;

function riskOf(raw: unknown, i: number): RemainingRisk {
  const where = `risks[${i}]`;
  const obj = objectOf(raw, where, ['description', 'owner', 'due', 'mitigation', 'status'], `${where}: `);
  const field = (name: string) => text(obj, name, { max: MAX_RISK_TEXT, label: `${where}.${name}` });
  const due = field('due');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(due) || Number.isNaN(Date.parse(`${due}T00:00:00Z`))) throw new RefusedError(`${where}.due: a date such as 2026-12-01, not ${quote(due)}`);
  const status = obj.status === undefined ? 'open' : obj.status;
  if (!RISK_STATUSES.includes(status as RemainingRisk['status'])) throw new RefusedError(`${where}.status: one of ${RISK_STATUSES.join(', ')}, not ${quote(status)}`);
  return { description: field('description'), owner: field('owner'), due, mitigation: field('mitigation'), status: status as RemainingRisk['status'] };
}

/** Shape of a setRisks update; every problem names its field. */
export function parseRisksInput(input: unknown): RisksInput {
  const obj = objectOf(input, 'risks update', ['release', 'runId', 'by', 'reason', 'risks']);
  const head = { release: text(obj, 'release'), runId: text(obj, 'runId'), by: person(obj, 'by'), reason: reasonOf(obj) };
  if (!Array.isArray(obj.risks) || obj.risks.length === 0 || obj.risks.length > REMAINING_RISKS) {
    throw new RefusedError(`risks: must list 1 to ${REMAINING_RISKS} risks`);
  }
  return { ...head, risks: obj.risks.map(riskOf) };
}

const closed = new WeakSet<ReleaseRun>();

/** After this the release notes are written: further updates are refused. */
export function closeRisks(run: ReleaseRun): void {
  closed.add(run);
}

/** Sets the plan's risks on the status and accepts setRisks from the plan's people until close-out. */
export function registerRisksUpdate(run: ReleaseRun): void {
  const { status, plan } = run;
  status.risks = [...plan.risks];
  const people = new Set(plan.people.map((p) => p.id));
  let updates = 0;
  setHandler(
    setRisksUpdate,
    (raw) => {
      const d = parseRisksInput(raw);
      status.risks = d.risks;
      const at = new Date().toISOString();
      updates += 1;
      run.record({
        key: `risks/${updates}`, file: `remaining_risks_${plan.version}.txt`, kind: 'decision', mode: 'append',
        body: [`${at} remaining risks set by ${d.by}: ${d.reason}`, ...d.risks.map((r, i) => `  ${i + 1}. ${r.description} | owner ${r.owner}, due ${r.due} | ${r.mitigation} | ${r.status}`)].join('\n'),
      });
      return d.risks;
    },
    {
      validator: (raw) => {
        const d = parseRisksInput(raw);
        if (d.release !== status.release || d.runId !== status.runId) throw new RefusedError(`release/runId: this is ${status.release} run ${status.runId}`);
        if (!people.has(d.by)) throw new RefusedError(`by: ${quote(d.by)} is not a person of this release's plan`);
        if (closed.has(run) || status.verdict !== 'running') throw new RefusedError('risks: the release notes are already written');
      },
    },
  );
}
