// Pager over an HTTP webhook: POSTs the page as JSON (PagerDuty Events, Opsgenie,
// Alertmanager-style receivers, or a small relay). 2xx means delivered.
import { describeFetchFailure, requireHttpUrl, requireTimeoutMs } from '../http';
import { attemptWithRetries, checkRetryPolicy, DEFAULT_DELIVERY_RETRY, type RetryPolicy } from '../retry';
import type { Page, PageDelivery, Pager } from './pager';

export interface WebhookPagerOptions {
  url: string;
  timeoutMs?: number;
  retry?: RetryPolicy;
}

class WebhookError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

export function createWebhookPager(opts: WebhookPagerOptions): Pager {
  const url = requireHttpUrl(opts.url, 'url');
  // Webhook URLs often carry a routing key: the evidence names the host only.
  const shown = new URL(url).origin;
  const timeoutMs = requireTimeoutMs(opts.timeoutMs ?? 5000, 'timeoutMs');
  const policy = checkRetryPolicy(opts.retry ?? DEFAULT_DELIVERY_RETRY, 'retry');
  return {
    configured: true,
    async page(page: Page): Promise<PageDelivery> {
      const outcome = await attemptWithRetries(
        policy,
        async () => {
          let res: Response;
          try {
            res = await fetch(url, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': page.key },
              body: JSON.stringify(page),
              signal: AbortSignal.timeout(timeoutMs),
            });
          } catch (err) {
            throw new WebhookError(describeFetchFailure(err, 'pager webhook', shown, timeoutMs), true);
          }
          const body = (await res.text()).slice(0, 300);
          if (!res.ok) throw new WebhookError(`pager webhook answered HTTP ${res.status}${body ? `: ${body}` : ''}`, res.status >= 500 || res.status === 429);
          return res.status;
        },
        (error) => ({ retry: error instanceof WebhookError && error.retryable }),
      );
      const tries = `${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'}`;
      return outcome.ok
        ? { delivered: true, attempts: outcome.attempts, detail: `delivered (webhook HTTP ${outcome.value}) in ${tries}` }
        : { delivered: false, attempts: outcome.attempts, detail: `not delivered (webhook) after ${tries}: ${outcome.error.message}` };
    },
  };
}
