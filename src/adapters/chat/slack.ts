// Notifier over Slack's Web API (@slack/web-api). Retries are ours, not the
// client's (whose default retries for half an hour): a few quick attempts, each
// counted, then the failure is reported as a delivery that did not happen.
import {
  LogLevel, WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError, WebClient,
} from '@slack/web-api';
import type { types } from '@slack/bolt';
import { requireHttpUrl, requireTimeoutMs } from '../http';
import { attemptWithRetries, checkRetryPolicy, DEFAULT_DELIVERY_RETRY, type RetryDecision, type RetryPolicy } from '../retry';
import { unconfiguredNotifier, type ChatMessage, type Delivery, type MessageRef, type Notifier } from './notifier';

export interface SlackNotifierOptions {
  /** Bot token (xoxb-...). */
  token: string;
  /** Web API base URL; Slack's own unless a proxy or a test double stands in. */
  apiUrl?: string;
  retry?: RetryPolicy;
  /** Per request. */
  timeoutMs?: number;
}

export const SLACK_API_URL = 'https://slack.com/api/';

function classify(error: Error): RetryDecision {
  // Slack said no (channel_not_found, invalid_auth, ...): asking again changes nothing.
  if (error instanceof WebAPIPlatformError) return { retry: false };
  if (error instanceof WebAPIRateLimitedError) return { retry: true, afterMs: error.retryAfter * 1000 };
  if (error instanceof WebAPIHTTPError) return { retry: error.statusCode >= 500 || error.statusCode === 408 };
  return { retry: error instanceof WebAPIRequestError };
}

function describe(error: Error): string {
  if (error instanceof WebAPIPlatformError) return `Slack answered ${error.data.error}`;
  if (error instanceof WebAPIHTTPError) return `HTTP ${error.statusCode} ${error.statusMessage}`.trim();
  if (error instanceof WebAPIRateLimitedError) return `rate limited (retry after ${error.retryAfter}s)`;
  if (error instanceof WebAPIRequestError) return `request failed: ${error.original.message}`;
  return error.message;
}

/** Slack's notifier, which can also open a modal for a click (the GO override asks for a reason). */
export interface SlackNotifier extends Notifier {
  openModal(triggerId: string, view: types.ModalView): Promise<Delivery>;
}

export function createSlackNotifier(opts: SlackNotifierOptions): SlackNotifier {
  if (typeof opts.token !== 'string' || opts.token.trim() === '') throw new Error('token: a Slack bot token is required');
  const apiUrl = requireHttpUrl(opts.apiUrl ?? SLACK_API_URL, 'apiUrl') + '/';
  const timeoutMs = requireTimeoutMs(opts.timeoutMs ?? 5000, 'timeoutMs');
  const policy = checkRetryPolicy(opts.retry ?? DEFAULT_DELIVERY_RETRY, 'retry');
  const client = new WebClient(opts.token, {
    slackApiUrl: apiUrl,
    timeout: timeoutMs,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logLevel: LogLevel.ERROR,
  });

  const deliver = async (what: string, call: () => Promise<MessageRef | undefined>): Promise<Delivery> => {
    const outcome = await attemptWithRetries(policy, call, classify);
    const tries = `${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'}`;
    if (!outcome.ok) return { delivered: false, attempts: outcome.attempts, detail: `not delivered (${what}) after ${tries}: ${describe(outcome.error)}` };
    const ref = outcome.value;
    return {
      delivered: true,
      attempts: outcome.attempts,
      detail: `delivered (${what}${ref ? ` ${ref.channel} ts ${ref.ts}` : ''}) in ${tries}`,
      ...(ref ? { message: ref } : {}),
    };
  };

  return {
    configured: true,
    post: (channel: string, message: ChatMessage) =>
      deliver(`chat.postMessage ${channel}`, async () => {
        const res = await client.chat.postMessage({ channel, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) });
        return { channel: String(res.channel), ts: String(res.ts) };
      }),
    update: (ref: MessageRef, message: ChatMessage) =>
      deliver('chat.update', async () => {
        // Without blocks, Slack keeps the old ones: an empty list removes the buttons.
        const res = await client.chat.update({ channel: ref.channel, ts: ref.ts, text: message.text, blocks: message.blocks ?? [] });
        return { channel: String(res.channel), ts: String(res.ts) };
      }),
    ephemeral: (channel: string, user: string, text: string) =>
      deliver(`chat.postEphemeral ${channel} to ${user}`, async () => {
        await client.chat.postEphemeral({ channel, user, text });
        return undefined;
      }),
    openModal: (triggerId: string, view: types.ModalView) =>
      deliver('views.open', async () => {
        await client.views.open({ trigger_id: triggerId, view });
        return undefined;
      }),
  };
}

/** The notifier the environment configures: SLACK_BOT_TOKEN (and SLACK_API_URL); without a token, none. */
export function notifierFromEnv(env: NodeJS.ProcessEnv = process.env): Notifier {
  return slackNotifierFromEnv(env) ?? unconfiguredNotifier;
}

/** Slack's notifier from SLACK_BOT_TOKEN (and SLACK_API_URL); null without a token. */
export function slackNotifierFromEnv(env: NodeJS.ProcessEnv = process.env): SlackNotifier | null {
  const token = env.SLACK_BOT_TOKEN?.trim();
  return token ? createSlackNotifier({ token, apiUrl: env.SLACK_API_URL?.trim() || SLACK_API_URL }) : null;
}
