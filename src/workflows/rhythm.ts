// The first-night schedule (spec section 8) from the plan's rhythm.
import type { ReleasePlan } from '../plan/schema';

/** Offsets (ms after the first night starts) of every check, in order. */
export function firstNightSchedule(rhythm: ReleasePlan['firstNight']['rhythm']): number[] {
  const offsets: number[] = [];
  let from = 0;
  for (const step of rhythm) {
    // Durations were rounded to whole ms one by one after scaling: count steps, don't accumulate.
    const count = Math.round((step.until - from) / step.every);
    for (let k = 1; k <= count; k++) offsets.push(from + Math.round((k * (step.until - from)) / count));
    from = step.until;
  }
  return offsets;
}

/** The plan hour (00..23) a check falls in, for hourly_log_<hh>.txt; durations are scaled by timeScale. */
export function planHour(offsetMs: number, timeScale: number): string {
  // Offsets are rounded to whole ms: a check on an hour's boundary may sit up to 1 ms past it.
  const hour = Math.min(23, Math.max(0, Math.ceil((offsetMs - 1) / (3_600_000 * timeScale)) - 1));
  return String(hour).padStart(2, '0');
}
