// Telling people: announcements and prompts to chat, pages to the pager. What
// was said and whether it arrived both go to the evidence; a failed delivery is
// recorded, never thrown, so an outage of Slack or the pager never blocks a release.
// Exactly once per intent: the intent is recorded before anything is sent, and a retry
// (the ledger failed after the send) finds the worker's delivery instead of sending again.
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

/** Every notice as intended, before it is sent (announcements.txt and pages.txt say what came of it). */
export const INTENTS_FILE = 'notices_intended.txt';
/** Deliveries a worker remembers for retries; old ones go first past this many. */
const DELIVERIES_KEPT = 10_000;

type Delivery = { delivered: boolean; detail: string; message?: AnnounceResult['message'] };

export function createNotifyActivities(deps: NotifyDeps) {
  const notifier = deps.notifier ?? unconfiguredNotifier;
  const pager = deps.pager ?? unconfiguredPager;
  const delivered = new Map<string, Delivery>();
  const once = async (req: { release: string; runId: string; key: string }, file: string, intent: string, send: () => Promise<Delivery>): Promise<Delivery> => {
    await deps.ledger.append(note({ ...req, key: `${req.key}/intent` }, INTENTS_FILE, `${file}: ${intent}`));
    const id = `${req.release}/${req.runId}/${req.key}`;
    let delivery = delivered.get(id);
    if (!delivery) {
      delivery = await send();
      delivered.set(id, delivery);
      if (delivered.size > DELIVERIES_KEPT) delivered.delete(delivered.keys().next().value!);
    }
    await deps.ledger.append(note(req, file, `${intent}\n  -> ${delivery.detail}`));
    return delivery;
  };
  return {
    async announce(req: AnnounceRequest): Promise<AnnounceResult> {
      const message = req.prompt ? { ...renderPrompt(req.prompt), text: req.text } : { text: req.text };
      const what = req.replace ? `(replaces ${req.replace.channel} ts ${req.replace.ts}) ` : '';
      const delivery = await once(req, 'announcements.txt', `${new Date().toISOString()} ${req.channel} ${what}${req.text}`, async () => {
        const sent = req.replace ? await notifier.update(req.replace, message) : await notifier.post(req.channel, message);
        if (!sent.delivered && notifier.configured) log.warn(`chat ${sent.detail}`, { release: req.release, key: req.key });
        return sent;
      });
      return { delivered: delivery.delivered, detail: delivery.detail, configured: notifier.configured, ...(delivery.message ? { message: delivery.message } : {}) };
    },

    async page(req: PageRequest): Promise<AnnounceResult> {
      const kind = req.kind ?? 'page';
      const to = req.to ?? [];
      const at = new Date().toISOString();
      const whom = `${kind}${to.length ? ` to ${to.join(', ')}` : ''}`;
      const delivery = await once(req, 'pages.txt', `${at} ${whom}: ${req.reason}`, async () => {
        const sent = await pager.page({
          release: req.release, runId: req.runId, service: req.service, version: req.version,
          kind, reason: req.reason, to, route: req.route ?? req.service, key: `${req.release}/${req.runId}/${req.key}`, at,
        });
        log.warn(`PAGE (${whom}): ${req.reason} -> ${sent.detail}`, { release: req.release });
        return sent;
      });
      return { delivered: delivery.delivered, detail: delivery.detail };
    },
  };
}
