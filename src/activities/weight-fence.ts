// Fenced weight writes. Every weight change of a release carries the workflow's increasing
// generation; a write older than the newest one this worker applied is refused, and a
// rollback waits for older writes still in flight and sets 0% again after them, so a
// stage-weight attempt that timed out cannot put traffic back on the canary.
export class WeightFence {
  private readonly releases = new Map<string, { applied: number; inflight: Set<Promise<unknown>> }>();

  private state(release: string) {
    let s = this.releases.get(release);
    if (!s) this.releases.set(release, (s = { applied: 0, inflight: new Set() }));
    return s;
  }

  /** The newest generation applied for the release (0: none). */
  applied(release: string): number {
    return this.state(release).applied;
  }

  /** Runs `apply` unless a newer generation was applied; `superseded` when it was. */
  async write<T>(release: string, generation: number, apply: () => Promise<T>): Promise<{ superseded: true } | { superseded: false; value: T }> {
    const s = this.state(release);
    if (generation < s.applied) return { superseded: true };
    s.applied = generation;
    const pending = apply();
    s.inflight.add(pending);
    try {
      return { superseded: false, value: await pending };
    } finally {
      s.inflight.delete(pending);
    }
  }

  /** Writes of the release still in flight (started before now). */
  inflight(release: string): Promise<unknown>[] {
    return [...this.state(release).inflight];
  }
}
