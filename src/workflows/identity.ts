// Who a decision is from, inside the workflow: the people registry the worker's
// configuration names (loaded by the release's first activity), and the check of
// each signed decision against it (src/identity/decision.ts). Without a registry
// configured, decisions are taken on their names (the local demo; docs/security.md).
import { checkDecisionSignature, type DecisionFields } from '../identity/decision';
import type { WorkerAllowances } from './allowed';
import { RefusedError } from './validate';

interface Identity {
  registry: WorkerAllowances['people'];
  windowMs: number;
  seen: Set<string>;
}

// Keyed by the run object, which lives exactly as long as its workflow.
const identities = new WeakMap<object, Identity>();

export function adoptRegistry(run: object, allowed: WorkerAllowances): void {
  identities.set(run, { registry: allowed.people, windowMs: allowed.decisionWindowMs, seen: new Set() });
}

/** Refuses a decision the registry does not vouch for: unsigned, badly signed, stale, replayed, or from someone without `role`. */
export function checkSigned(run: object, f: DecisionFields, signature: string | undefined, role: string): void {
  const id = identities.get(run);
  if (!id) throw new RefusedError('the release has not read the worker\'s people registry yet; try again in a moment');
  if (!id.registry) return;
  const person = id.registry[f.by];
  if (!person) throw new RefusedError(`by: "${f.by}" is not in the people registry`);
  if (!person.roles.includes(role)) throw new RefusedError(`by: "${f.by}" does not have the ${role} role in the people registry (roles: ${person.roles.join(', ') || 'none'})`);
  const keys = Object.fromEntries(Object.entries(id.registry).map(([k, p]) => [k, p.key]));
  checkDecisionSignature(f, signature, { keys, nowMs: Date.now(), windowMs: id.windowMs, seen: id.seen });
}

/** An accepted signature can never be used again. */
export function markUsed(run: object, signature: string | undefined): void {
  if (signature) identities.get(run)?.seen.add(signature);
}
