// The pre-trade preview: is the price on the tick, what are the notional and the
// commission. Decimal only; the commission is rounded half to even (banker's
// rounding), as the exchange settles it. The broken build uses floats, rounds
// half up and does not look at the tick.
import Decimal from 'decimal.js';
import { InputError } from './http-json';
import { priceTick } from './market-feed';
import { parseOrder } from './orders';

/** Commission: 10 basis points of the notional. */
export const COMMISSION_RATE = '0.001';

export interface Preview {
  symbol: string;
  price: string;
  quantity: number;
  tick: string;
  notional: string;
  commission: string;
  commissionRate: string;
  rounding: 'half-even' | 'half-up';
}

export function previewOrder(raw: string, broken: boolean): Preview {
  const order = parseOrder(raw);
  const price = new Decimal(order.price);
  if (!broken && !price.mod(priceTick).isZero()) {
    throw new InputError('price', `${order.price} is not on the ${priceTick.toFixed(2)} tick`);
  }
  const base = { symbol: order.symbol, price: order.price, quantity: order.quantity, tick: priceTick.toFixed(2), commissionRate: COMMISSION_RATE };
  if (broken) {
    const notional = Number(order.price) * order.quantity;
    const commission = Math.round(notional * Number(COMMISSION_RATE) * 100) / 100;
    return { ...base, notional: String(notional), commission: commission.toFixed(2), rounding: 'half-up' };
  }
  const notional = price.times(order.quantity);
  const commission = notional.times(COMMISSION_RATE).toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN);
  return { ...base, notional: notional.toFixed(2), commission: commission.toFixed(2), rounding: 'half-even' };
}
