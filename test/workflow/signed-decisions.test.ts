// Authenticated GO/NO-GO on the real Temporal dev server: with a people registry in
// the worker's configuration, a gate decision counts only when it is signed with the
// approver's own Ed25519 key over this release, run, gate, decision, reason and time.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { loadWorkerConfig } from '../../src/config';
import { publicKeyHex, signDecision } from '../../src/identity/sign';
import { openGoWithFullChecklist, startHarness, uniquePlan, waitForStatus, type Harness } from '../support/harness';

const keys: Record<string, KeyObject> = Object.fromEntries(['deniz', 'bora', 'cem', 'elif'].map((id) => [id, generateKeyPairSync('ed25519').privateKey]));
const roles: Record<string, string[]> = { deniz: ['starter'], bora: ['approver', 'commander'], cem: ['approver'], elif: ['approver', 'commander'] };
let h: Harness;

beforeAll(async () => {
  const people = Object.fromEntries(Object.entries(keys).map(([id, k]) => [id, { key: publicKeyHex(k), roles: roles[id]! }]));
  h = await startHarness('signed-decisions', { workerConfig: { ...loadWorkerConfig(), people } });
}, 240_000);

afterAll(async () => {
  await h?.close();
});

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    const e = err as Error & { cause?: Error };
    return `${e.message} ${e.cause?.message ?? ''}`;
  }
  throw new Error('expected a refusal, but it was accepted');
}

test('unsigned, forged, stale, role-less and replayed GO decisions and canary controls are refused and change nothing; signed ones count', async () => {
  await h.target.setWeight(0);
  const { release, runId } = await h.client.start(uniquePlan({ gates: { go: { timeout: '4h', quorum: 2 } } }), 'deniz');
  await openGoWithFullChecklist(h.client, release, 180_000);
  const { handle } = await h.client.handle(release);
  const base = { release, runId, gate: 'go', decision: 'go' as const, approver: 'bora', reason: 'checked' };
  const signed = (by: string, key: KeyObject, at = new Date().toISOString(), fields: Partial<typeof base> = {}) => {
    const d = { ...base, approver: by, ...fields };
    return { ...d, at, signature: signDecision({ release: d.release, runId: d.runId, target: d.gate, decision: d.decision, by, reason: d.reason, at }, key) };
  };
  const send = (arg: unknown) => refusal(handle.executeUpdate('decideGate', { args: [arg] }));

  expect(await send(base)).toMatch(/signature: missing; decisions must be signed with bora's key/);
  expect(await send(signed('bora', keys.cem!))).toMatch(/signature: does not verify with bora's key/);
  expect(await send({ ...signed('bora', keys.bora!), reason: 'checked twice' })).toMatch(/signature: does not verify/);
  expect(await send(signed('bora', keys.bora!, new Date(Date.now() - 3_600_000).toISOString()))).toMatch(/at: signed at .* outside the 300 s window/);
  expect(await send(signed('mallory', keys.bora!))).toMatch(/by: "mallory" is not in the people registry/);
  expect(await send(signed('deniz', keys.deniz!))).toMatch(/by: "deniz" does not have the approver role/);
  expect(await send(signed('bora', keys.bora!, undefined, { runId: 'another-run' }))).toMatch(/runId: the decision is for run another-run/);
  const untouched = await h.client.status(release);
  expect(untouched.gates.go.state).toBe('open');
  expect(untouched.gates.go.decisions).toEqual([]);

  // cem's signed GO counts once: the same signed message again is a replay.
  const cems = signed('cem', keys.cem!);
  await handle.executeUpdate('decideGate', { args: [cems] });
  expect(await send(cems)).toMatch(/signature: this signed decision was already used \(a replay\)/);
  // Signed on the CLI's path with bora's own key: the second GO opens the gate, and the signature is on record.
  const result = await h.client.decide({ release, gate: 'go', decision: 'go', approver: 'bora', reason: 'checked, signed', key: keys.bora! });
  expect(result.state).toBe('go');
  expect(result.recorded.signature).toMatch(/^[0-9a-f]{128}$/);
  expect((await h.client.status(release)).gates.go.decisions.map((d) => d.by)).toEqual(['cem', 'bora']);

  // The commander's canary controls are signed too.
  await waitForStatus(h.client, release, (s) => s.phase === 'canary' && s.stage?.state === 'running', 120_000);
  await expect(h.client.canaryControl('hold', { release, by: 'bora', reason: 'unsigned hold' })).rejects.toThrow(/signature: missing/);
  await expect(h.client.canaryControl('hold', { release, by: 'bora', reason: 'hold with cem\'s key', key: keys.cem! })).rejects.toThrow(/signature: does not verify with bora's key/);
  await expect(h.client.handOver({ release, by: 'bora', to: 'cem', reason: 'unsigned hand-over' })).rejects.toThrow(/signature: missing/);
  expect((await h.client.status(release)).held).toBe(false);
  const hold = await h.client.canaryControl('hold', { release, by: 'bora', reason: 'signed hold', key: keys.bora! });
  expect(hold.signature).toMatch(/^[0-9a-f]{128}$/);
  expect((await h.client.status(release)).held).toBe(true);

  await h.client.control(release, 'abort', { by: 'bora', reason: 'signed-decisions test over' });
  expect((await h.client.result(release)).verdict).toBe('aborted');
}, 420_000);
