// Bounded retries with exponential backoff for the adapters that tell people
// things (Slack, pagers): they report how many attempts a delivery took, and a
// failure is a result to record, never an exception that stops a release.

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_DELIVERY_RETRY: RetryPolicy = { attempts: 3, initialDelayMs: 250, maxDelayMs: 2000 };

export type AttemptOutcome<T> =
  | { ok: true; value: T; attempts: number }
  | { ok: false; error: Error; attempts: number };

/** Says whether an error is worth another attempt, and optionally how long to wait first (ms). */
export type RetryDecision = { retry: false } | { retry: true; afterMs?: number };

export function checkRetryPolicy(policy: RetryPolicy, field: string): RetryPolicy {
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) throw new Error(`${field}.attempts must be a whole number of at least 1, got ${policy.attempts}`);
  if (!(policy.initialDelayMs >= 0) || !(policy.maxDelayMs >= policy.initialDelayMs)) {
    throw new Error(`${field}: delays must satisfy 0 <= initialDelayMs (${policy.initialDelayMs}) <= maxDelayMs (${policy.maxDelayMs})`);
  }
  return policy;
}

export async function attemptWithRetries<T>(
  policy: RetryPolicy,
  run: (attempt: number) => Promise<T>,
  classify: (error: Error) => RetryDecision,
): Promise<AttemptOutcome<T>> {
  let delay = policy.initialDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await run(attempt), attempts: attempt };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const decision = classify(error);
      if (!decision.retry || attempt >= policy.attempts) return { ok: false, error, attempts: attempt };
      await new Promise((r) => setTimeout(r, Math.min(decision.afterMs ?? delay, policy.maxDelayMs)));
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
