// The red team's human gate (T-5): what no machine can prove (a PITR cold start,
// HTTPS on every subdomain HSTS preload covers) is confirmed item by item by a
// person the plan names, through the confirmRedTeamItem update. An item's check
// passes only when its machine part passed and a person confirmed it; declined
// or unconfirmed at the timeout, the check fails, and so does the GO checklist.
import { condition, setHandler } from '@temporalio/workflow';
import { confirmRedTeamItemUpdate, type RedTeamConfirmInput, type RedTeamItemState } from './messages';
import type { ReleaseRun } from './run';
import { parseRedTeamConfirm, RefusedError } from './validate';

/** Registers the update (at the top of the workflow); it is refused until the red-team phase opens the gate. */
export function registerRedTeamGate(run: ReleaseRun): void {
  const { status } = run;
  const confirmers = new Set(run.plan.redTeamGate?.confirmers ?? []);
  const open = (d: RedTeamConfirmInput): RedTeamItemState => {
    if (d.release !== status.release || d.runId !== status.runId) throw new RefusedError(`release/runId: this is ${status.release} run ${status.runId}`);
    const gate = status.redTeamGate;
    if (gate?.state !== 'open') throw new RefusedError(`item: the red-team gate is ${gate ? 'closed' : 'not open yet'}`);
    const item = gate.items.find((i) => i.id === d.item);
    if (!item) throw new RefusedError(`item: "${d.item}" is not an item of this gate (${gate.items.map((i) => i.id).join(', ')})`);
    if (item.state !== 'open') throw new RefusedError(`item: "${d.item}" was already ${item.state} by ${item.by}`);
    if (!confirmers.has(d.by)) throw new RefusedError(`by: "${d.by}" may not confirm red-team items (confirmers: ${[...confirmers].join(', ')})`);
    return item;
  };
  setHandler(
    confirmRedTeamItemUpdate,
    (raw) => {
      const d = parseRedTeamConfirm(raw);
      const item = open(d);
      Object.assign(item, { state: d.confirmed ? 'confirmed' : 'declined', by: d.by, at: new Date().toISOString(), note: d.note });
      run.record({
        key: `redteam-gate/${item.id}`, file: `redteam_gate_${run.plan.version}.txt`, kind: 'gate', mode: 'append',
        body: `${item.at} ${item.state.toUpperCase()} ${item.id} by ${d.by}: ${d.note} (${item.text})`,
      });
      return item;
    },
    { validator: (raw) => void open(parseRedTeamConfirm(raw)) },
  );
}

/** Opens the gate, waits for every item (or the timeout, or an abort), and settles the items' checks. */
export async function runRedTeamGate(run: ReleaseRun): Promise<void> {
  const gatePlan = run.plan.redTeamGate;
  if (!gatePlan) return;
  const { status } = run;
  const items: RedTeamItemState[] = gatePlan.items.map((i) => ({ id: i.id, check: i.check, text: i.text, state: 'open' }));
  status.redTeamGate = { state: 'open', deadline: new Date(Date.now() + gatePlan.timeout).toISOString(), items };
  await run.announce('warRoom', [
    `Red team: ${items.length} items need a person (${gatePlan.confirmers.join(', ')}) before ${status.redTeamGate.deadline}:`,
    ...items.map((i) => `- ${i.id}: ${i.text}`),
    `Confirm each with the confirmRedTeamItem update { release, runId, item, by, confirmed, note }.`,
  ].join('\n'), 'redteam-gate-open');
  await condition(() => items.every((i) => i.state !== 'open') || run.abortRequested !== null, gatePlan.timeout);
  status.redTeamGate.state = 'closed';
  for (const item of items) {
    if (item.state === 'open') {
      Object.assign(item, { state: 'timed-out', at: new Date().toISOString() });
      run.record({ key: `redteam-gate/${item.id}`, file: `redteam_gate_${run.plan.version}.txt`, kind: 'gate', mode: 'append', body: `${item.at} TIMED-OUT ${item.id}: nobody confirmed it within ${gatePlan.timeout / 1000}s (${item.text})` });
    }
    const check = status.checks.find((c) => c.id === item.check && c.phase === 'redTeam');
    if (!check) continue;
    if (item.state === 'confirmed') {
      check.summary += `; confirmed by ${item.by}: ${item.note}`;
    } else {
      check.status = 'fail';
      check.summary += `; ${item.state === 'declined' ? `declined by ${item.by}: ${item.note}` : 'not confirmed by a person in time'}`;
    }
  }
}
