// The pager the environment configures: SPARK_PAGER_WEBHOOK (a URL) or
// SPARK_PAGER_COMMAND (a shell command), not both; neither means no pager.
import { createCommandPager } from './command';
import { unconfiguredPager, type Pager } from './pager';
import { createWebhookPager } from './webhook';

export function pagerFromEnv(env: NodeJS.ProcessEnv = process.env): Pager {
  const webhook = env.SPARK_PAGER_WEBHOOK?.trim();
  const command = env.SPARK_PAGER_COMMAND?.trim();
  if (webhook && command) throw new Error('SPARK_PAGER_WEBHOOK and SPARK_PAGER_COMMAND are both set: choose one pager');
  if (webhook) return createWebhookPager({ url: webhook });
  if (command) return createCommandPager({ command });
  return unconfiguredPager;
}
