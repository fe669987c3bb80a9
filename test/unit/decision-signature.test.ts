import { generateKeyPairSync } from 'node:crypto';
import { checkDecisionSignature, type DecisionFields } from '../../src/identity/decision';
import { publicKeyHex, signDecision } from '../../src/identity/sign';
import { RefusedError } from '../../src/workflows/validate';

const bora = generateKeyPairSync('ed25519').privateKey;
const cem = generateKeyPairSync('ed25519').privateKey;
const keys = { bora: publicKeyHex(bora), cem: publicKeyHex(cem) };
const at = '2026-12-02T19:00:00.000Z';
const now = Date.parse(at) + 10_000;
const GO: DecisionFields = { release: 'release-spark-trading-v1.4.0', runId: 'run-1', target: 'go', decision: 'go', by: 'bora', reason: '10/10', at };
const check = (f: DecisionFields, signature: unknown, seen: Set<string> = new Set()) =>
  checkDecisionSignature(f, signature, { keys, nowMs: now, windowMs: 300_000, seen });

function refusal(call: () => unknown): string {
  try {
    call();
  } catch (err) {
    if (err instanceof RefusedError) return err.message;
    throw err;
  }
  throw new Error('expected a refusal, but it was accepted');
}

test('a decision signed with the person\'s own key verifies', () => {
  expect(keys.bora).toMatch(/^[0-9a-f]{64}$/);
  expect(() => check(GO, signDecision(GO, bora))).not.toThrow();
});

test.each<[string, () => unknown, RegExp]>([
  ['unsigned', () => check(GO, undefined), /^signature: missing/],
  ['not a signature', () => check(GO, 'abc'), /^signature: must be 128 lower-case hex digits/],
  ['signed by another person\'s key', () => check(GO, signDecision(GO, cem)), /^signature: does not verify with bora's key/],
  ['signed for another run', () => check(GO, signDecision({ ...GO, runId: 'run-0' }, bora)), /^signature: does not verify/],
  ['with a reason changed after signing', () => check({ ...GO, reason: '10/10, trust me' }, signDecision(GO, bora)), /^signature: does not verify/],
  ['a NO-GO turned into a GO', () => check(GO, signDecision({ ...GO, decision: 'no-go' }, bora)), /^signature: does not verify/],
  ['by a person without a key', () => check({ ...GO, by: 'mallory' }, signDecision({ ...GO, by: 'mallory' }, bora)), /^by: "mallory" has no public key/],
  ['stale (outside the window)', () => { const old = { ...GO, at: '2026-12-02T18:00:00.000Z' }; return check(old, signDecision(old, bora)); }, /^at: signed at 2026-12-02T18:00:00.000Z, outside the 300 s window/],
  ['with a time that is not one', () => { const odd = { ...GO, at: 'yesterday' }; return check(odd, signDecision(odd, bora)); }, /^at: must be an ISO time/],
  ['replayed', () => { const sig = signDecision(GO, bora); return check(GO, sig, new Set([sig])); }, /^signature: this signed decision was already used/],
])('a decision %s is refused, naming the field', (_name, call, expected) => {
  expect(refusal(call)).toMatch(expected);
});
