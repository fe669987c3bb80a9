// Telling people: announcements and prompts to chat, pages to the pager. What
// was said and whether it arrived both go to the evidence; a failed delivery is
// recorded, never thrown, so an outage of Slack or the pager never blocks a release.
import { log } from '@temporalio/activity';
import { unconfiguredNotifier, type Notifier } from '../adapters/chat/notifier';
import type { EvidenceInput, EvidenceLedger } from '../adapters/ledger/ledger';
import { unconfiguredPager, type Pager } from '../adapters/pager/pager';
import { renderPrompt } from '../slack/blocks';
import type { AnnounceRequest, AnnounceResult, PageRequest } from './types';

export interface NotifyDeps {
  ledger: EvidenceLedger;
  notifier?: Notifier;
  pager?: Pager;
}

function note(req: { release: string; runId: string; key: string }, file: string, body: string): EvidenceInput {
  return { release: req.release, runId: req.runId, key: req.key, file, kind: 'note', body, mode: 'append' };
}

export function createNotifyActivities(deps: NotifyDeps) {
  const notifier = deps.notifier ?? unconfiguredNotifier;
  const pager = deps.pager ?? unconfiguredPager;
  return {
    async announce(req: AnnounceRequest): Promise<AnnounceResult> {
      const message = req.prompt ? { ...renderPrompt(req.prompt), text: req.text } : { text: req.text };
      const delivery = req.replace ? await notifier.update(req.replace, message) : await notifier.post(req.channel, message);
      if (!delivery.delivered && notifier.configured) log.warn(`chat ${delivery.detail}`, { release: req.release, key: req.key });
      const what = req.replace ? `(replaces ${req.replace.channel} ts ${req.replace.ts}) ` : '';
      await deps.ledger.append(note(req, 'announcements.txt', `${new Date().toISOString()} ${req.channel} ${what}${req.text}\n  -> ${delivery.detail}`));
      return { delivered: delivery.delivered, detail: delivery.detail, ...(delivery.message ? { message: delivery.message } : {}) };
    },

    async page(req: PageRequest): Promise<AnnounceResult> {
      const kind = req.kind ?? 'page';
      const to = req.to ?? [];
      const at = new Date().toISOString();
      const delivery = await pager.page({
        release: req.release, runId: req.runId, service: req.service, version: req.version,
        kind, reason: req.reason, to, route: req.route ?? req.service, key: `${req.release}/${req.runId}/${req.key}`, at,
      });
      log.warn(`PAGE (${kind}${to.length ? ` to ${to.join(', ')}` : ''}): ${req.reason} -> ${delivery.detail}`, { release: req.release });
      await deps.ledger.append(note(req, 'pages.txt', `${at} ${kind}${to.length ? ` to ${to.join(', ')}` : ''}: ${req.reason}\n  -> ${delivery.detail}`));
      return { delivered: delivery.delivered, detail: delivery.detail };
    },
  };
}
