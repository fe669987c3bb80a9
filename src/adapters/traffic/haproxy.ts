// TrafficRouter for HAProxy: sets the weights of one backend's stable and canary
// servers through the runtime API on HAProxy's stats socket (`set server ... weight`)
// and reads them back (`get weight`). Nothing is reloaded: the running process holds
// the weights, so the backend must balance with a dynamic algorithm (docs/adapters.md).
import net from 'node:net';
import type { RouterSettings, TrafficRouter, WeightChange } from './router';

export type HaproxyTrafficConfig = Extract<RouterSettings, { router: 'haproxy' }>;

export interface ServerWeights {
  stable: number;
  canary: number;
}

/** HAProxy's largest server weight (weights go 0..256). */
const MAX_WEIGHT = 256;

/**
 * The weights that express `percent` (at most two decimals) to the canary: exactly when
 * two weights of 0..256 can (25% is 255/85, 1% is 198/2), otherwise the nearest share they
 * can (0.25% becomes 1/257, 0.39%). Of equal shares the largest weights win: `balance random`
 * puts each server on a consistent-hash ring in proportion to its weight, and with weights
 * 1/1 we measured 57.6% rather than 50% on one side.
 */
export function weightsFor(percent: number): ServerWeights {
  const hundredths = Math.round(percent * 100);
  let best: ServerWeights = { stable: MAX_WEIGHT, canary: 0 };
  let bestError = Infinity;
  for (let total = 1; total <= 2 * MAX_WEIGHT; total += 1) {
    const canary = Math.min(MAX_WEIGHT, Math.max(total - MAX_WEIGHT, Math.round((hundredths * total) / 10_000)));
    // How far canary/total lies from the wanted share, in hundredths of a percent.
    const error = Math.abs(canary * 10_000 - hundredths * total) / total;
    if (error <= bestError) {
      best = { stable: total - canary, canary };
      bestError = error;
    }
  }
  return best;
}

/** The canary's exact share in percent; a canary at weight 0 gets nothing, even when stable is 0 too. */
export function canaryShare(weights: ServerWeights): number {
  return weights.canary === 0 ? 0 : (weights.canary * 100) / (weights.canary + weights.stable);
}

/** The share at the plan's resolution (hundredths of a percent). */
function planPercent(weights: ServerWeights): number {
  return Math.round(canaryShare(weights) * 100) / 100;
}

/**
 * Which server to set first. Between the two commands HAProxy holds one old and one new
 * weight; take the half-way state with the smaller canary share (never more than the larger
 * of the old and new shares), unless it would leave both servers at 0 and serve nothing.
 */
function stableFirst(from: ServerWeights, to: ServerWeights): boolean {
  const share = (canary: number, stable: number): number => (canary + stable === 0 ? Infinity : canary / (canary + stable));
  return share(from.canary, to.stable) <= share(to.canary, from.stable);
}

/** `config` must already be validated (see createTrafficRouter). */
export function createHaproxyRouter(config: HaproxyTrafficConfig): TrafficRouter {
  const servers = { stable: config.stableServer, canary: config.canaryServer };
  const fields = { stable: 'traffic.stableServer', canary: 'traffic.canaryServer' };

  /** One command on its own connection; HAProxy answers and closes. */
  function ask(command: string, side: keyof ServerWeights): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const connection = net.connect(config.socket);
      let answer = '';
      const timer = setTimeout(() => {
        connection.destroy();
        reject(new Error(`traffic.socket: HAProxy's runtime API at ${config.socket} did not answer "${command}" within ${config.timeoutMs} ms`));
      }, config.timeoutMs);
      connection.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      connection.on('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`traffic.socket: cannot reach HAProxy's runtime API at ${config.socket} (${error.message}); is haproxy running with "stats socket ${config.socket} level admin"?`));
      });
      connection.on('end', () => {
        clearTimeout(timer);
        resolve(answer.trim());
      });
      connection.end(`${command}\n`);
    }).then((answer) => {
      if (answer === '' || /^\d+ \(initial \d+\)$/.test(answer)) return answer;
      const field = /backend/i.test(answer) ? 'traffic.backend' : /permission/i.test(answer) ? 'traffic.socket' : fields[side];
      const hint = field === 'traffic.socket' ? ' (the stats socket needs "level admin")' : '';
      throw new Error(`${field}: HAProxy answered "${answer}" to "${command}" on ${config.socket}${hint}`);
    });
  }

  async function readWeights(): Promise<ServerWeights> {
    const read = async (side: keyof ServerWeights): Promise<number> => {
      const answer = await ask(`get weight ${config.backend}/${servers[side]}`, side);
      const weight = /^(\d+) /.exec(answer)?.[1];
      if (weight === undefined) throw new Error(`${fields[side]}: HAProxy gave no weight for ${config.backend}/${servers[side]} on ${config.socket}: "${answer}"`);
      return Number(weight);
    };
    return { stable: await read('stable'), canary: await read('canary') };
  }

  return {
    kind: 'haproxy',
    async setCanaryWeight(percent: number): Promise<WeightChange> {
      const before = await readWeights();
      const wanted = weightsFor(percent);
      const order: (keyof ServerWeights)[] = stableFirst(before, wanted) ? ['stable', 'canary'] : ['canary', 'stable'];
      const command = (side: keyof ServerWeights): string => `set server ${config.backend}/${servers[side]} weight ${wanted[side]}`;
      for (const side of order) await ask(command(side), side);
      const held = await readWeights();
      if (held.stable !== wanted.stable || held.canary !== wanted.canary) {
        throw new Error(`HAProxy holds stable ${held.stable} / canary ${held.canary} in ${config.backend} after being set to ${wanted.stable} / ${wanted.canary} for canary ${percent}%`);
      }
      const share = canaryShare(held);
      const exactness = Math.abs(share - percent) < 1e-9
        ? `exactly ${percent}%`
        : `${Number(share.toFixed(4))}%, the nearest share weights of 0..${MAX_WEIGHT} give to ${percent}%`;
      return {
        previous: planPercent(before),
        current: planPercent(held),
        detail: `${config.socket}: ${order.map(command).join('; ')}; get weight read back stable ${held.stable} / canary ${held.canary}: canary ${exactness}`,
      };
    },
    currentCanaryWeight: async () => planPercent(await readWeights()),
  };
}
