// Money on the canary, checked with decimal.js against its own API: banker's
// rounding and tick alignment (blind spot 4, red team 6) and drift, where float
// arithmetic would leave the exact decimal result (red team 12). The service's
// pre-trade preview (POST /api/orders/preview) and its quotes are the evidence.
import Decimal from 'decimal.js';
import { openSocket, StaleFeedError } from './blast-radius';
import { limit, probe, sectionCheck, targetCheck, targetOf, verdict } from './target-access';
import type { CheckEnv } from './types';

interface Preview {
  tick: string;
  notional: string;
  commission: string;
  commissionRate: string;
}

async function preview(env: CheckEnv, price: string, quantity: number): Promise<{ status: number; body: Preview & { field?: string; error?: string } }> {
  const answer = await probe(env, new URL('/api/orders/preview', targetOf(env).canaryUrl).href, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ symbol: 'THYAO', side: 'buy', quantity, price }),
  });
  return { status: answer.status, body: JSON.parse(answer.body) };
}

/** Prices whose commission lands exactly on a half cent: half-even and half-up disagree on most. */
const HALF_CENT_CASES = ['5.00', '15.00', '25.00', '35.00', '105.00'];

async function bankersRounding(env: CheckEnv): Promise<{ lines: string[]; problems: string[] }> {
  const lines: string[] = [];
  const problems: string[] = [];
  for (const price of HALF_CENT_CASES) {
    const { status, body } = await preview(env, price, 1);
    if (status !== 200) {
      problems.push(`preview of ${price} x 1 answered ${status}: ${body.error ?? ''}`);
      continue;
    }
    const expected = new Decimal(price).times(body.commissionRate).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN).toFixed(2);
    lines.push(`commission of ${price} x 1 at ${body.commissionRate}: ${body.commission} (half-even: ${expected})`);
    if (body.commission !== expected) problems.push(`commission of ${price} is ${body.commission}, banker's rounding gives ${expected}`);
  }
  return { lines, problems };
}

/** Off-tick prices must be refused naming the price; on-tick ones accepted. */
async function tickAlignment(env: CheckEnv): Promise<{ lines: string[]; problems: string[]; tick: string | null }> {
  const onTick = await preview(env, '100.05', 1);
  const tick = onTick.status === 200 ? onTick.body.tick : null;
  const lines = [`preview 100.05 -> ${onTick.status}, tick ${tick ?? '?'}`];
  const problems = onTick.status === 200 ? [] : [`an on-tick price (100.05) was refused: ${onTick.status} ${onTick.body.error ?? ''}`];
  for (const price of ['100.03', '99.99', '0.01']) {
    const off = await preview(env, price, 1);
    lines.push(`preview ${price} -> ${off.status}${off.body.error ? ` (${off.body.error})` : ''}`);
    if (off.status !== 400 || off.body.field !== 'price') problems.push(`the off-tick price ${price} was ${off.status === 200 ? 'accepted' : `answered ${off.status}`} instead of refused`);
  }
  return { lines, problems, tick };
}

/** The quotes of one tick message: every price on the tick and written with at most 2 decimals. */
async function quotesOnTick(env: CheckEnv, tick: string | null): Promise<{ lines: string[]; problems: string[] }> {
  const url = new URL('/ws', targetOf(env).canaryUrl.replace(/^http/, 'ws')).href;
  let first: string;
  try {
    const opened = await openSocket(url, env.signal, limit(env, 'microWsMaxTickAgeMs'));
    opened.socket.terminate();
    first = opened.first;
  } catch (err) {
    if (!(err instanceof StaleFeedError)) throw err;
    return { lines: [`quotes: ${err.message}`], problems: [`no quotes to check: ${err.message}`] };
  }
  const quotes = (JSON.parse(first) as { quotes?: { symbol: string; bid: string; ask: string }[] }).quotes ?? [];
  const problems: string[] = [];
  for (const q of quotes) {
    for (const price of [q.bid, q.ask]) {
      const written = String(price);
      if (!/^\d+(\.\d{1,2})?$/.test(written)) problems.push(`${q.symbol} is quoted as ${written}: not a 2-decimal price (float drift)`);
      else if (tick && !new Decimal(written).mod(tick).isZero()) problems.push(`${q.symbol} is quoted at ${written}, off the ${tick} tick`);
    }
  }
  return { lines: [`quotes of one tick: ${quotes.map((q) => `${q.symbol} ${q.bid}/${q.ask}`).join(', ')}`], problems };
}

export const blindDecimal = sectionCheck((v) => `blind_spots_scan_${v}.txt`, async (env) => {
  const rounding = await bankersRounding(env);
  const align = await tickAlignment(env);
  return verdict("Blind spot 4: decimal behaviour", [...rounding.lines, ...align.lines], [...rounding.problems, ...align.problems], "banker's rounding and tick alignment hold");
});

export const rtDecimalTickAlignment = sectionCheck((v) => `redteam_${v}.txt`, async (env) => {
  const align = await tickAlignment(env);
  const quotes = await quotesOnTick(env, align.tick);
  return verdict('Red team 6: decimal tick alignment', [...align.lines, ...quotes.lines], [...align.problems, ...quotes.problems], `off-tick prices refused, quotes on the ${align.tick} tick`);
});

/** Prices near values floats cannot hold, times quantities that amplify the error. */
const DRIFT_PRICES = ['0.15', '1.15', '64.85', '112.35', '285.55'];
const DRIFT_QUANTITIES = [3, 7, 100, 333, 1000];

export const rtDecimalTickDrift = targetCheck(async (env) => {
  const lines = ['price\tquantity\tnotional\texact\tcommission\texact_commission'];
  const problems: string[] = [];
  let cases = 0;
  for (const price of DRIFT_PRICES) {
    for (const quantity of DRIFT_QUANTITIES) {
      const { status, body } = await preview(env, price, quantity);
      cases += 1;
      if (status !== 200) {
        problems.push(`preview ${price} x ${quantity} answered ${status}`);
        continue;
      }
      const exact = new Decimal(price).times(quantity);
      const exactCommission = exact.times(body.commissionRate).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN).toFixed(2);
      lines.push(`${price}\t${quantity}\t${body.notional}\t${exact.toFixed(2)}\t${body.commission}\t${exactCommission}`);
      if (!/^-?\d+(\.\d+)?$/.test(body.notional) || !new Decimal(body.notional).eq(exact)) problems.push(`${price} x ${quantity} = ${body.notional}, drifted from ${exact.toFixed(2)}`);
      else if (body.commission !== exactCommission) problems.push(`commission of ${price} x ${quantity} is ${body.commission}, exact half-even ${exactCommission}`);
    }
  }
  const drifted = problems.length;
  const v = verdict(`Red team 12: decimal tick drift of ${env.release} (run ${env.runId})`, lines, drifted > 3 ? [...problems.slice(0, 3), `... ${drifted - 3} more`] : problems, `${cases} notionals and commissions exact to the cent`);
  return { status: v.status, summary: v.summary, files: { 'decimal_tick_drift_test.txt': v.text } };
});
