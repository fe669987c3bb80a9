// The remaining risks of a release (close-out, spec section 9): the plan's,
// until a person of the plan replaces them with the setRisks update. They are
// final once the close-out has written the release notes.
import { setHandler } from '@temporalio/workflow';
import { REMAINING_RISKS } from '../plan/vocabulary';
import { remainingRiskSchema, type RemainingRisk } from '../plan/risks';
import { setRisksUpdate, type RisksInput } from './messages';
import type { ReleaseRun } from './run';
import { MAX_REASON_LENGTH, RefusedError } from './validate';

const FIELDS = ['release', 'runId', 'by', 'reason', 'risks'];

/** Shape of a setRisks update; every problem names its field. */
export function parseRisksInput(input: unknown): RisksInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new RefusedError('risks update: must be an object');
  const obj = input as Record<string, unknown>;
  const extra = Object.keys(obj).find((k) => !FIELDS.includes(k));
  if (extra) throw new RefusedError(`${extra}: unknown field`);
  for (const name of ['release', 'runId', 'by', 'reason']) {
    if (typeof obj[name] !== 'string' || (obj[name] as string).trim() === '') throw new RefusedError(`${name}: must be a non-empty string`);
  }
  if ((obj.reason as string).length > MAX_REASON_LENGTH) throw new RefusedError(`reason: longer than ${MAX_REASON_LENGTH} characters`);
  if (!Array.isArray(obj.risks) || obj.risks.length === 0 || obj.risks.length > REMAINING_RISKS) {
    throw new RefusedError(`risks: must list 1 to ${REMAINING_RISKS} risks`);
  }
  const risks = obj.risks.map((raw, i): RemainingRisk => {
    const parsed = remainingRiskSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    throw new RefusedError(`risks[${i}]${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`);
  });
  return { release: obj.release as string, runId: obj.runId as string, by: (obj.by as string).trim(), reason: (obj.reason as string).trim(), risks };
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
        if (!people.has(d.by)) throw new RefusedError(`by: "${d.by}" is not a person of this release's plan`);
        if (closed.has(run) || status.verdict !== 'running') throw new RefusedError('risks: the release notes are already written');
      },
    },
  );
}
