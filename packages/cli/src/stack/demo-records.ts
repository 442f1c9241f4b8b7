import { SampleOrders } from '@lagscale/validator';

const orders = new SampleOrders({ seed: 1998 });

/** Record `n` of a demo job: an order for the example rule set, about 4% of them breaking a rule. */
export function demoOrder(n: number): string {
  return JSON.stringify(orders.order(n).record);
}
