// A person's signed decision (docs/security.md): what is signed, and its check.
// Pure and deterministic, so the workflow's update validators can run it in the
// sandbox (@noble/curves, no Node built-ins); signing is src/identity/sign.ts.
import { ed25519 } from '@noble/curves/ed25519';
import { RefusedError } from '../workflows/validate';

/** First field of every signed message, so another use of a key can never collide with it. */
export const DECISION_FORMAT = 'spark-decision-v1';

/** What a signature covers: the release, its run, the gate or control, the decision, who, why and when. */
export interface DecisionFields {
  release: string;
  runId: string;
  /** The gate ("go") or the control (hold, resume, abort, promote, rollback, handover, start). */
  target: string;
  /** "go", "no-go", or for a control its argument (the stage, the new commander); "" when none. */
  decision: string;
  by: string;
  reason: string;
  /** ISO time of signing, checked against the workflow's clock. */
  at: string;
}

/** The exact bytes signed: a JSON array of strings is one unambiguous encoding. */
export function decisionMessage(f: DecisionFields): Uint8Array {
  return new TextEncoder().encode(JSON.stringify([DECISION_FORMAT, f.release, f.runId, f.target, f.decision, f.by, f.reason, f.at]));
}

const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);

function bytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export interface SignatureCheck {
  /** Person id -> Ed25519 public key (64 hex digits), from the deployment's people registry. */
  keys: Record<string, string>;
  nowMs: number;
  /** How far `at` may be from now, either way. */
  windowMs: number;
  /** Signatures already accepted by this release: a replay is refused. */
  seen: ReadonlySet<string>;
}

/** Refuses (RefusedError naming the field) an unsigned, badly signed, stale or replayed decision. */
export function checkDecisionSignature(f: DecisionFields, signature: unknown, c: SignatureCheck): void {
  if (signature === undefined) throw new RefusedError(`signature: missing; decisions must be signed with ${f.by}'s key (docs/security.md)`);
  if (typeof signature !== 'string' || !HEX(128).test(signature)) throw new RefusedError('signature: must be 128 lower-case hex digits (an Ed25519 signature)');
  const key = c.keys[f.by];
  if (key === undefined || !HEX(64).test(key)) throw new RefusedError(`by: "${f.by}" has no public key in the people registry`);
  const at = Date.parse(f.at);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(f.at) || Number.isNaN(at)) throw new RefusedError('at: must be an ISO time, e.g. 2026-12-02T19:00:00.000Z');
  if (Math.abs(c.nowMs - at) > c.windowMs) {
    throw new RefusedError(`at: signed at ${f.at}, outside the ${Math.round(c.windowMs / 1000)} s window around the release's clock (${new Date(c.nowMs).toISOString()}); sign again`);
  }
  if (c.seen.has(signature)) throw new RefusedError('signature: this signed decision was already used (a replay)');
  let ok = false;
  try {
    ok = ed25519.verify(bytes(signature), decisionMessage(f), bytes(key));
  } catch {
    ok = false;
  }
  if (!ok) throw new RefusedError(`signature: does not verify with ${f.by}'s key over this release, run, ${f.target}, decision, reason and time`);
}
