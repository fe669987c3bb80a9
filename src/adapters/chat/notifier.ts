// What a release tells people in chat, and whether it reached them. Delivery is
// a result to record in the evidence, never an exception: a chat outage does
// not stop a release.
import type { types } from '@slack/bolt';

export type ChatBlock = types.KnownBlock;

export interface ChatMessage {
  /** Plain-text fallback: notifications, screen readers, and clients without blocks. */
  text: string;
  blocks?: ChatBlock[];
}

export interface MessageRef {
  /** Channel ID (Slack answers names with IDs; chat.update needs the ID). */
  channel: string;
  ts: string;
}

export interface Delivery {
  delivered: boolean;
  attempts: number;
  /** One line for the evidence: where it went, or why it did not. */
  detail: string;
  message?: MessageRef;
}

export interface Notifier {
  readonly configured: boolean;
  post(channel: string, message: ChatMessage): Promise<Delivery>;
  /** Replaces a message posted earlier (the decision replaces the buttons). */
  update(ref: MessageRef, message: ChatMessage): Promise<Delivery>;
  /** A message only `user` sees, e.g. why a click was refused. */
  ephemeral(channel: string, user: string, text: string): Promise<Delivery>;
}

const NOT_CONFIGURED: Delivery = { delivered: false, attempts: 0, detail: 'not delivered: Slack not configured (set SLACK_BOT_TOKEN)' };

/** The notifier when no chat is configured: says so in every delivery, never pretends. */
export const unconfiguredNotifier: Notifier = {
  configured: false,
  post: async () => NOT_CONFIGURED,
  update: async () => NOT_CONFIGURED,
  ephemeral: async () => NOT_CONFIGURED,
};
