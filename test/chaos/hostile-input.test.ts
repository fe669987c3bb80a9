// Hostile input to a running release: oversized payloads (2 MB reasons, 10,000-
// element objects) and identities the plan does not allow, sent straight to the
// workflow's updates and signals (no client-side checks in the way), except a
// 2 MB update, which the client refuses (see below). Updates are refused
// synchronously with a message naming the field; signals are recorded as refused
// (or turned away by the server); nothing of the release changes and no payload
// reaches the evidence.
import { setTimeout as sleep } from 'node:timers/promises';
import { temporal } from '@temporalio/proto';
import fc from 'fast-check';
import { completenessOf } from '../../src/evidence/completeness';
import type { ReleaseStatus } from '../../src/workflows/messages';
import { approveGo, openGoWithFullChecklist, waitForStatus } from '../support/harness';
import { CRASH_PLAN_OVERRIDES, startChaosEnv, type ChaosEnv } from './support/chaos-env';
import type { WorkerProcess } from './support/worker-process';

let env: ChaosEnv;
let worker: WorkerProcess;

beforeAll(async () => {
  env = await startChaosEnv({ name: 'ci-hostile' });
  worker = await env.startWorker();
}, 240_000);

afterAll(async () => {
  await worker?.kill();
  await env?.close();
});

const HUGE = 'x'.repeat(2 * 1024 * 1024);
const MARK = 'hostile-flood-7f3a';
const MANY = Array.from({ length: 10_000 }, (_, i) => ({ i, by: 'bora', reason: MARK }));

/** Just over the workflow's own bound: the validator refuses it, naming the field. */
const LONG = 'y'.repeat(2001);

/** The message of a refused update (or of the server's refusal to take the request at all). */
async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    const e = err as Error & { cause?: Error };
    return `${e.message} ${e.cause?.message ?? ''}`;
  }
  throw new Error('expected a refusal, but it was accepted');
}

test('oversized and unauthorised updates and signals are refused with a clear message and change nothing', async () => {
  await env.target.setWeight(0);
  // elif is an approver, so her own GO is refused for being the initiator's.
  const { release, runId } = await env.client.start(env.plan({ ...CRASH_PLAN_OVERRIDES, canary: { humanWaitLimit: '4h' } }), 'elif');
  const before = await openGoWithFullChecklist(env.client, release);
  const { handle } = await env.client.handle(release);
  const decision = { release, runId, gate: 'go', decision: 'go', approver: 'bora', reason: 'ok' };
  const update = (name: string, arg: unknown) => refusal(handle.executeUpdate(name, { args: [arg] }));

  // Gate decisions: each refusal names what is wrong.
  expect(await update('decideGate', { ...decision, reason: LONG })).toMatch(/reason: longer than 2000 characters/);
  expect(await update('decideGate', { ...decision, reason: MANY })).toMatch(/reason: must be a string/);
  expect(await update('decideGate', { ...decision, flood: MANY })).toMatch(/flood: unknown field/);
  expect(await update('decideGate', MANY)).toMatch(/decision: must be an object/);
  expect(await update('decideGate', { ...decision, approver: 'mallory' })).toMatch(/approver: "mallory" may not decide gate go/);
  expect(await update('decideGate', { ...decision, approver: 'elif' })).toMatch(/"elif" started this release and may not approve it/);
  expect(await update('decideGate', { ...decision, runId: 'forged-run' })).toMatch(/runId: the decision is for run forged-run/);
  // A 2 MB update must never reach the cluster: Temporal 1.29.1 terminates the workflow when the
  // rejection (which carries the request back) exceeds its size limit (docs/reliability.md).
  // Every front end goes through ReleaseClient, which refuses it before sending.
  await expect(env.client.decide({ release, gate: 'go', decision: 'go', approver: 'bora', reason: HUGE })).rejects.toThrow('reason: longer than 2000 characters');
  // The other updates: canary controls, hand-over, risks.
  const control = { release, runId, by: 'bora', reason: 'ok' };
  expect(await update('holdCanary', { ...control, reason: LONG })).toMatch(/reason: longer than 2000 characters/);
  expect(await update('holdCanary', control)).toMatch(/no canary stage is running/);
  expect(await update('handOver', { ...control, to: MANY })).toMatch(/to: must be a string/);
  expect(await update('setRisks', { ...control, risks: MANY })).toMatch(/risks: must list 1 to 3 risks/);
  expect(await update('setRisks', { ...control, by: 'mallory', risks: [{ description: 'd', owner: 'o', due: '2026-12-01', mitigation: 'm' }] })).toMatch(/by: "mallory" is not a person/);

  // Signals cannot be refused synchronously: the server may turn an oversized one away, otherwise the workflow records a refusal.
  const signalOutcomes: string[] = [];
  for (const [name, arg] of [['abort', { by: 'bora', reason: HUGE }], ['abort', { by: MANY, reason: MARK }], ['hold', MANY], ['abort', { by: 'mallory', reason: 'not in the plan' }]] as const) {
    signalOutcomes.push(await handle.signal(name, arg).then(() => 'sent', (err: Error) => `refused by the server: ${err.message}`));
  }
  await sleep(3000);

  const after = await env.client.status(release);
  expect(after.verdict).toBe('running');
  expect(after.gates.go.state).toBe('open');
  expect(after.gates.go.decisions).toEqual([]);
  expect(after.held).toBe(false);
  expect(after.risks).toEqual(before.risks);
  expect(after.incidentCommander).toBe(before.incidentCommander);
  // Every signal the workflow saw is on record as refused, with why, and without its payload.
  const sent = signalOutcomes.filter((o) => o === 'sent').length;
  const refused = after.decisions.filter((d) => !d.accepted);
  expect(after.decisions.every((d) => !d.accepted)).toBe(true);
  expect(refused).toHaveLength(sent);
  for (const d of refused) {
    expect(d.refusal).toMatch(/^(reason: longer than 2000 characters|by: must be a string|control: must be an object|by: "mallory" is not a person of this release's plan)/);
    expect(JSON.stringify(d).length).toBeLessThan(1000);
  }
  // No oversized payload reached the evidence; the history holds no failed workflow task.
  const evidence = await env.ledger.list(release);
  expect(evidence.filter((r) => r.body.includes('x'.repeat(3000)) || r.body.includes(MARK))).toEqual([]);
  const { events } = await handle.fetchHistory();
  expect(events!.filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)).toEqual([]);

  // The release still works for the people it should: GO, then the canary controls refuse strangers.
  await approveGo(env.client, release, 'checked');
  await waitForStatus(env.client, release, (s) => s.phase === 'canary' && s.stage?.index === 0, 120_000);
  expect(await update('holdCanary', { ...control, by: 'cem' })).toMatch(/by: "cem" may not hold the canary/);
  expect(await update('rollbackNow', { ...control, reason: LONG })).toMatch(/reason: longer than 2000 characters/);
  expect((await env.client.status(release)).held).toBe(false);
  await env.client.control(release, 'abort', { by: 'bora', reason: 'hostile-input test over' });
  const result = await env.client.result(release);
  expect(result.verdict).toBe('aborted');
  expect((await env.client.status(release)).rollback?.completedAt).toBeDefined();
  console.log(`hostile input: signals ${signalOutcomes.join('; ')}`);
});

// Characters no field may hold: NUL, lone surrogates, C0 and C1 controls, DEL, bidirectional overrides.
const FORBIDDEN = ['\u0000', '\ud800', '\udfff', '\u001b', '\u0007', '\u007f', '\u0085', '\u202e', '\u2066'];
/** A string that holds at least one forbidden character, anywhere in it. */
const hostileString = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom(...FORBIDDEN), fc.string({ unit: 'binary', maxLength: 40 }))
  .map(([a, bad, b]) => `${a}${bad}${b}`);

/** Every signal and update a person can send, with the fields a valid one carries. */
function messages(ref: { release: string; runId: string }) {
  const control = { ...ref, by: 'bora', reason: 'checked' };
  const risk = { description: 'd', owner: 'bora', due: '2026-12-01', mitigation: 'm' };
  return {
    updates: {
      decideGate: { ...ref, gate: 'go', decision: 'go', approver: 'bora', reason: 'checked' },
      holdCanary: { ...control, stage: 1 },
      resumeCanary: control,
      promoteNow: control,
      rollbackNow: control,
      handOver: { ...control, to: 'elif' },
      setRisks: { ...control, risks: [risk] },
      confirmRedTeamItem: { ...ref, item: 'pitr-cold-start', by: 'elif', confirmed: true, note: 'restored' },
    } as Record<string, Record<string, unknown>>,
    signals: { abort: { by: 'bora', reason: 'checked' }, hold: { by: 'bora', reason: 'checked' }, resume: { by: 'bora', reason: 'checked' } } as Record<string, Record<string, unknown>>,
  };
}

/** A valid message with one string field (or a risk's) made hostile, or with a hostile extra field. */
function hostileMessage(base: Record<string, unknown>) {
  const fields = Object.keys(base).filter((k) => typeof base[k] === 'string');
  return fc.oneof(
    fc.tuple(fc.constantFrom(...fields), hostileString).map(([k, v]) => ({ ...base, [k]: v })),
    fc.tuple(hostileString, fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => ({ ...base, [k]: v })),
    ...(Array.isArray(base.risks)
      ? [fc.tuple(fc.constantFrom('description', 'owner', 'mitigation', 'due'), hostileString).map(([k, v]) => ({ ...base, risks: [{ ...(base.risks as object[])[0], [k]: v }] }))]
      : []),
  );
}

function unchanged(before: ReleaseStatus, after: ReleaseStatus): void {
  expect(after.verdict).toBe('running');
  expect(after.held).toBe(before.held);
  expect(after.incidentCommander).toBe(before.incidentCommander);
  expect(after.risks).toEqual(before.risks);
  expect(after.gates.go.decisions).toEqual(before.gates.go.decisions);
  expect(after.decisions.filter((d) => d.accepted)).toEqual(before.decisions.filter((d) => d.accepted));
}

test('generated hostile strings in every signal and update change nothing; the release still rolls back and its evidence verifies (fixed seed)', async () => {
  await env.target.setWeight(0);
  const { release, runId } = await env.client.start(env.plan({ ...CRASH_PLAN_OVERRIDES, canary: { humanWaitLimit: '4h' } }), 'deniz');
  const { handle } = await env.client.handle(release);
  const { updates, signals } = messages({ release, runId });
  let signalsSent = 0;

  const barrage = async (seed: number) => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          ...Object.entries(updates).map(([name, base]) => hostileMessage(base).map((arg) => ({ kind: 'update' as const, name, arg }))),
          ...Object.entries(signals).map(([name, base]) => hostileMessage(base).map((arg) => ({ kind: 'signal' as const, name, arg }))),
        ),
        async (m) => {
          if (m.kind === 'signal') {
            await handle.signal(m.name, m.arg);
            signalsSent += 1;
            return;
          }
          // Refused synchronously, naming a field; an unknown field is named by (part of) its escaped key.
          expect(await refusal(handle.executeUpdate(m.name, { args: [m.arg] }))).toMatch(/: (holds (a NUL|a control character|a lone UTF-16 surrogate)|unknown field)/);
        },
      ),
      { seed, numRuns: 60 },
    );
    // Every signal is on record as refused before the release goes on.
    return waitForStatus(env.client, release, (s) => s.decisions.filter((d) => !d.accepted).length === signalsSent, 60_000);
  };

  // While the GO gate is open, then while canary stage 1 runs.
  const gateOpen = await openGoWithFullChecklist(env.client, release);
  unchanged(gateOpen, await barrage(1301));
  await approveGo(env.client, release, 'checked');
  const stage1 = await waitForStatus(env.client, release, (s) => s.phase === 'canary' && s.stage?.index === 0 && s.stage.state === 'running', 120_000);
  const afterStage = await barrage(1302);
  unchanged(stage1, afterStage);
  expect(afterStage.stage?.index).toBe(0);
  for (const d of afterStage.decisions.filter((x) => !x.accepted)) expect(d.refusal).toMatch(/: (holds (a NUL|a control character|a lone UTF-16 surrogate)|unknown field)/);

  // The commander still rolls back, and the rollback completes.
  await env.client.canaryControl('rollback', { release, by: 'bora', reason: 'hostile-input property test over' });
  const result = await env.client.result(release);
  expect(result.verdict).toBe('rolled-back');
  expect((await env.client.status(release)).rollback?.completedAt).toBeDefined();
  expect(result.canaryWeight).toBe(0);

  // `evidence verify`: the chain verifies, the evidence is complete, and the refused signals are in it.
  const verification = await env.ledger.verify(release);
  expect(verification.ok).toBe(true);
  const records = await env.ledger.list(release);
  const completeness = completenessOf(records);
  // The chaos env has no target database or signing key, so some checks' files are missing; none of what a person's input could block.
  expect(completeness.lines.filter((l) => l.includes('MISSING') && /rollback|metrics_(before|after)|decisions|go_nogo|verdict|release_plan|timeline/.test(l))).toEqual([]);
  expect(records.filter((r) => r.file === 'decisions.txt' && r.body.includes('REFUSED'))).toHaveLength(signalsSent);
  const { events } = await handle.fetchHistory();
  expect(events!.filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)).toEqual([]);
  console.log(`hostile property: ${signalsSent} signals recorded as refused; ${verification.records} evidence records verify; ${completeness.lines[0]}`);
}, 600_000);
