// Paging a human: the page-human outcome of a stage and the escalation of a
// gate nobody answers. Any pager plugs in behind this (a webhook, a command).

export interface Page {
  release: string;
  runId: string;
  service: string;
  version: string;
  /** `page`: a stage needs a human now; `escalation`: a gate has waited too long. */
  kind: 'page' | 'escalation';
  reason: string;
  /** People of the plan to reach (ids), e.g. the incident commander. */
  to: string[];
  /** The plan's pager route (rota, service, routing key name). */
  route: string;
  /** Stable per page: a pager that deduplicates can use it (the same page retried pages once). */
  key: string;
  at: string;
}

export interface PageDelivery {
  delivered: boolean;
  attempts: number;
  detail: string;
}

export interface Pager {
  readonly configured: boolean;
  page(page: Page): Promise<PageDelivery>;
}

export const unconfiguredPager: Pager = {
  configured: false,
  page: async () => ({ delivered: false, attempts: 0, detail: 'not delivered: no pager configured (set SPARK_PAGER_WEBHOOK or SPARK_PAGER_COMMAND)' }),
};
