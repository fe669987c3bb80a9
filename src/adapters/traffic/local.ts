// TrafficRouter for the demo router (demo/router.ts): its admin API holds the
// canary share, GET/PUT {adminUrl}/weight with JSON {"canaryPercent": N}.
import { describeFetchFailure } from '../http';
import type { TrafficRouter, WeightChange } from './router';

/** The admin API is on loopback; anything slower than this is broken, not busy. */
const ADMIN_TIMEOUT_MS = 5000;

/** `adminUrl` must already be validated (see createTrafficRouter). */
export function createLocalRouter(adminUrl: string): TrafficRouter {
  const url = `${adminUrl}/weight`;

  async function send(method: 'GET' | 'PUT', canaryPercent?: number): Promise<string> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers: { 'content-type': 'application/json' },
        body: canaryPercent === undefined ? undefined : JSON.stringify({ canaryPercent }),
        signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
      });
      text = await response.text();
    } catch (error) {
      throw new Error(describeFetchFailure(error, 'demo router admin API', url, ADMIN_TIMEOUT_MS));
    }
    if (!response.ok) throw new Error(`demo router admin API ${method} ${url} answered HTTP ${response.status}: ${text.trim()}`);
    return text;
  }

  async function read(): Promise<number> {
    const text = await send('GET');
    let canaryPercent: unknown;
    try {
      canaryPercent = (JSON.parse(text) as { canaryPercent?: unknown }).canaryPercent;
    } catch {
      canaryPercent = undefined;
    }
    if (typeof canaryPercent !== 'number') {
      throw new Error(`demo router admin API GET ${url} answered without a numeric canaryPercent: ${text.trim()}`);
    }
    return canaryPercent;
  }

  return {
    kind: 'local',
    async setCanaryWeight(percent: number): Promise<WeightChange> {
      const previous = await read();
      await send('PUT', percent);
      // Read back rather than trust the PUT's body: the router's state is what counts.
      const current = await read();
      if (current !== percent) throw new Error(`demo router reports canaryPercent ${current} after PUT ${percent}`);
      return { previous, current, detail: `PUT ${url} {"canaryPercent":${percent}} (was ${previous})` };
    },
    currentCanaryWeight: read,
  };
}
