// Every activity heartbeats while it runs, so a worker that dies mid-activity is
// noticed within the workflow's heartbeat timeout (HEARTBEAT_TIMEOUT_MS in
// src/workflows/run.ts, a few intervals) instead of its start-to-close timeout.
import { Context } from '@temporalio/activity';

export const HEARTBEAT_INTERVAL_MS = 1_000;

/** The same activities, each heartbeating every HEARTBEAT_INTERVAL_MS while it runs. */
export function heartbeating<T extends object>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = typeof fn !== 'function' ? fn : async (...args: unknown[]) => {
      const ctx = activityContext();
      const timer = ctx ? setInterval(() => ctx.heartbeat(), HEARTBEAT_INTERVAL_MS) : undefined;
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } finally {
        clearInterval(timer);
      }
    };
  }
  return out as T;
}

/** Null when called outside an activity (a test calling the function itself). */
function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}
