// Collects the facts the invariants are checked on, once a release has ended (or
// could not end within the bound).
import type { ChaosEnv } from './chaos-env';
import type { ReleaseFacts } from './invariants';

async function withTimeout<T>(ms: number, work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000}s`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Highest value of the router's weight gauge that Prometheus scraped in the last `seconds`. */
async function scrapedMax(prometheusUrl: string, seconds: number): Promise<number | null> {
  const query = `max_over_time(router_canary_weight_percent[${Math.max(1, Math.ceil(seconds))}s])`;
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  const value = body.data?.result?.[0]?.value[1];
  return value === undefined ? null : Number(value);
}

export interface FactsWindow {
  /** Index in the recorder's history where this release's changes begin. */
  weightsFrom: number;
  /** Wall-clock ms when the release started (the scrape window opens there). */
  startedAt: number;
  resultTimeoutMs: number;
}

export async function collectFacts(env: ChaosEnv, release: string, window: FactsWindow): Promise<ReleaseFacts> {
  let result: ReleaseFacts['result'] = null;
  let resultError: string | undefined;
  try {
    result = await withTimeout(window.resultTimeoutMs, env.client.result(release), `result of ${release}`);
  } catch (err) {
    resultError = (err as Error).message;
  }
  const status = await withTimeout(30_000, env.client.status(release), 'status').catch(() => null);
  const routerWeightAtEnd = await fetch(`${env.target.urls.routerAdmin}/weight`)
    .then((r) => r.json() as Promise<{ canaryPercent: number }>)
    .then((b) => b.canaryPercent, () => null);
  const { events } = await env.client.client.workflow.getHandle(release).fetchHistory();
  return {
    release,
    result,
    ...(resultError ? { resultError } : {}),
    status,
    weights: env.recorder.history.slice(window.weightsFrom),
    routerWeightAtEnd,
    scrapedMaxWeight: await scrapedMax(env.prometheus.url, (Date.now() - window.startedAt) / 1000),
    evidence: await env.ledger.list(release),
    chain: await env.ledger.verify(release),
    history: events ?? [],
  };
}
