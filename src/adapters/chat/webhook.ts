// A Notifier for any HTTP endpoint (Teams/Discord relays, an internal bus): a
// JSON body signed with HMAC-SHA256 over `<timestamp>.<body>`, retried with
// backoff on network errors, 429 and 5xx, under one idempotency key per message
// so a receiver can drop the copies a retry sends.
import { createHmac, randomUUID } from 'node:crypto';
import type { ChatMessage, Delivery, MessageRef, Notifier } from './notifier';

export interface WebhookConfig {
  url: string;
  secret: string;
  /** Attempts in all, first one included. */
  maxAttempts: number;
  /** Wait before retry n is backoffMs * 2^(n-1). */
  backoffMs: number;
  timeoutMs: number;
}

export const SIGNATURE_HEADER = 'x-spark-signature';
export const TIMESTAMP_HEADER = 'x-spark-timestamp';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** `sha256=<hex>` over `<timestamp>.<body>`; receivers recompute it with the shared secret. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function createWebhookNotifier(config: WebhookConfig): Notifier {
  if (!/^https?:\/\//.test(config.url)) throw new Error(`webhook url must be an http(s) URL, got ${JSON.stringify(config.url)}`);
  if (config.secret === '') throw new Error('webhook secret must be non-empty: receivers check the signature');
  if (!Number.isInteger(config.maxAttempts) || config.maxAttempts < 1) throw new Error(`webhook maxAttempts must be a whole number >= 1, got ${config.maxAttempts}`);

  async function send(payload: Record<string, unknown>): Promise<Delivery> {
    const body = JSON.stringify(payload);
    const key = randomUUID();
    let last = '';
    for (let attempt = 1; attempt <= config.maxAttempts; attempt++) {
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, config.backoffMs * 2 ** (attempt - 2)));
      const timestamp = String(Math.floor(Date.now() / 1000));
      try {
        const response = await fetch(config.url, {
          method: 'POST',
          body,
          signal: AbortSignal.timeout(config.timeoutMs),
          headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signWebhook(config.secret, timestamp, body), [IDEMPOTENCY_HEADER]: key },
        });
        if (response.ok) return { delivered: true, attempts: attempt, detail: `delivered to ${config.url} (HTTP ${response.status}, key ${key})` };
        last = `HTTP ${response.status}`;
        // Other 4xx will not change on a retry (bad signature, bad URL).
        if (response.status !== 429 && response.status < 500) return { delivered: false, attempts: attempt, detail: `not delivered: ${config.url} answered ${last}` };
      } catch (error) {
        last = (error as Error).message;
      }
    }
    return { delivered: false, attempts: config.maxAttempts, detail: `not delivered: ${config.url} after ${config.maxAttempts} attempts: ${last}` };
  }

  return {
    configured: true,
    post: (channel: string, message: ChatMessage) => send({ type: 'post', channel, text: message.text, blocks: message.blocks }),
    update: (ref: MessageRef, message: ChatMessage) => send({ type: 'update', channel: ref.channel, replaces: ref.ts, text: message.text, blocks: message.blocks }),
    ephemeral: (channel: string, user: string, text: string) => send({ type: 'ephemeral', channel, user, text }),
  };
}

/**
 * The chat notifier plus, when SPARK_WEBHOOK_URL is set, the webhook: every
 * message goes to both. The chat's delivery (its message ref drives updates)
 * is the answer, with the webhook's outcome appended; without a chat, the webhook's.
 */
export function withWebhookFromEnv(chat: Notifier, env: NodeJS.ProcessEnv = process.env): Notifier {
  const url = env.SPARK_WEBHOOK_URL;
  if (!url) return chat;
  if (!env.SPARK_WEBHOOK_SECRET) throw new Error('SPARK_WEBHOOK_SECRET must be set when SPARK_WEBHOOK_URL is: receivers check the signature');
  const webhook = createWebhookNotifier({
    url,
    secret: env.SPARK_WEBHOOK_SECRET ?? '',
    maxAttempts: Number(env.SPARK_WEBHOOK_ATTEMPTS ?? 4),
    backoffMs: Number(env.SPARK_WEBHOOK_BACKOFF_MS ?? 500),
    timeoutMs: Number(env.SPARK_WEBHOOK_TIMEOUT_MS ?? 10_000),
  });
  if (!chat.configured) return webhook;
  const both = async (toChat: Promise<Delivery>, toWebhook: Promise<Delivery>): Promise<Delivery> => {
    const [chatDelivery, hookDelivery] = await Promise.all([toChat, toWebhook]);
    return { ...chatDelivery, detail: `${chatDelivery.detail}; webhook: ${hookDelivery.detail}` };
  };
  return {
    configured: true,
    post: (channel, message) => both(chat.post(channel, message), webhook.post(channel, message)),
    update: (ref, message) => both(chat.update(ref, message), webhook.update(ref, message)),
    ephemeral: (channel, user, text) => both(chat.ephemeral(channel, user, text), webhook.ephemeral(channel, user, text)),
  };
}
