// A small local stand-in for Slack's Web API, for the real @slack/web-api client
// pointed at it with `slackApiUrl`. It records every call (method, arguments,
// token) so tests assert on the exact messages, answers like Slack does for the
// few methods we use (channel names become IDs; chat.update needs the ID and an
// existing message), and can fail on demand: an outage, HTTP errors, rate limits.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import { signSlackRequest } from '../../src/slack/signature';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  token: string | null;
  /** What the fake answered. */
  answer: { status: number; body: Record<string, unknown> };
}

type Failure = { status: number } | { error: string } | { rateLimitedSeconds: number };

const JSON_FIELDS = ['blocks', 'attachments', 'metadata', 'view'];

export class FakeSlack {
  readonly calls: SlackCall[] = [];
  private readonly channels = new Map<string, string>();
  private readonly messages = new Map<string, Record<string, unknown>>();
  private readonly failures = new Map<string, Failure[]>();
  private readonly held = new Map<string, Promise<void>>();
  private readonly usedTriggers = new Set<string>();
  private down = false;
  private tsCounter = 0;

  private constructor(private readonly server: http.Server, readonly token: string) {}

  static async start(token = 'xoxb-fake-token'): Promise<FakeSlack> {
    const server = http.createServer();
    const fake = new FakeSlack(server, token);
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return fake;
  }

  /** The base URL for `slackApiUrl` / SLACK_API_URL. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Every call of a method, successful or not. */
  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Calls Slack accepted (ok: true). */
  accepted(method: string): SlackCall[] {
    return this.callsOf(method).filter((c) => c.answer.body.ok === true);
  }

  /** The ID Slack gives a channel name (stable per fake). */
  channelId(name: string): string {
    const key = name.replace(/^#/, '');
    let id = this.channels.get(key);
    if (!id) this.channels.set(key, (id = `C${String(this.channels.size + 1).padStart(8, '0')}`));
    return id;
  }

  /** The current text and blocks of a message, as chat.update left them. */
  message(channel: string, ts: string): Record<string, unknown> | undefined {
    return this.messages.get(`${channel}/${ts}`);
  }

  /** Every call answers HTTP 503 until `outage(false)`. */
  outage(on: boolean): void {
    this.down = on;
  }

  /** The next `count` calls of `method` fail this way. */
  failNext(method: string, count: number, failure: Failure): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...Array<Failure>(count).fill(failure)]);
  }

  /** Calls of `method` wait (recorded, unanswered) until the returned function is called. */
  hold(method: string): () => void {
    let release!: () => void;
    this.held.set(method, new Promise<void>((r) => (release = r)));
    return () => {
      this.held.delete(method);
      release();
    };
  }

  /** Waits until a call matching `predicate` has been recorded. */
  async waitFor(predicate: (c: SlackCall) => boolean, timeoutMs = 30_000): Promise<SlackCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.calls.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching Slack call within ${timeoutMs} ms; calls: ${this.calls.map((c) => c.method).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!;
    const args = this.parseArgs(raw, req.headers['content-type'] ?? '');
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : typeof args.token === 'string' ? args.token : null;
    const call: SlackCall = { method, args, token, answer: { status: 0, body: {} } };
    this.calls.push(call);
    await this.held.get(method);
    const answer = this.answer(method, args, token);
    call.answer = answer;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (answer.status === 429) headers['retry-after'] = String(answer.body.retryAfter);
    res.writeHead(answer.status, headers).end(JSON.stringify(answer.body));
  }

  private parseArgs(raw: string, contentType: string): Record<string, unknown> {
    const args: Record<string, unknown> = contentType.includes('application/json') ? JSON.parse(raw || '{}') : { ...parseQuery(raw) };
    for (const field of JSON_FIELDS) {
      if (typeof args[field] === 'string') args[field] = JSON.parse(args[field] as string);
    }
    return args;
  }

  private answer(method: string, args: Record<string, unknown>, token: string | null): SlackCall['answer'] {
    if (this.down) return { status: 503, body: { ok: false, error: 'service_unavailable' } };
    const failure = this.failures.get(method)?.shift();
    if (failure) {
      if ('status' in failure) return { status: failure.status, body: { ok: false, error: `http_${failure.status}` } };
      if ('rateLimitedSeconds' in failure) return { status: 429, body: { ok: false, error: 'ratelimited', retryAfter: failure.rateLimitedSeconds } };
      return { status: 200, body: { ok: false, error: failure.error } };
    }
    if (!token) return { status: 200, body: { ok: false, error: 'not_authed' } };
    if (token !== this.token) return { status: 200, body: { ok: false, error: 'invalid_auth' } };
    const ok = (body: Record<string, unknown>) => ({ status: 200, body: { ok: true, ...body } });
    const fail = (error: string) => ({ status: 200, body: { ok: false, error } });
    switch (method) {
      case 'auth.test':
        return ok({ user_id: 'UFAKEBOT', bot_id: 'BFAKEBOT', team_id: 'TFAKE' });
      case 'chat.postMessage': {
        if (typeof args.channel !== 'string' || args.channel === '') return fail('channel_not_found');
        if (!args.text && !args.blocks) return fail('no_text');
        const channel = /^[CGD][A-Z0-9]+$/.test(args.channel) ? args.channel : this.channelId(args.channel);
        const ts = `${1_700_000_000 + this.tsCounter}.${String(++this.tsCounter).padStart(6, '0')}`;
        const message = { text: args.text, blocks: args.blocks ?? [], ts };
        this.messages.set(`${channel}/${ts}`, message);
        return ok({ channel, ts, message });
      }
      case 'chat.update': {
        const key = `${String(args.channel)}/${String(args.ts)}`;
        if (![...this.channels.values()].includes(String(args.channel))) return fail('channel_not_found');
        const existing = this.messages.get(key);
        if (!existing) return fail('message_not_found');
        const message = { ...existing, text: args.text, ...(args.blocks !== undefined ? { blocks: args.blocks } : {}) };
        this.messages.set(key, message);
        return ok({ channel: args.channel, ts: args.ts, text: args.text });
      }
      case 'views.open': {
        // Slack answers a trigger older than 3 s, or used before, with expired_trigger_id.
        if (typeof args.trigger_id !== 'string' || args.trigger_id === '') return fail('invalid_trigger_id');
        if (this.usedTriggers.has(args.trigger_id)) return fail('expired_trigger_id');
        if (typeof args.view !== 'object' || args.view === null) return fail('invalid_arguments');
        this.usedTriggers.add(args.trigger_id);
        return ok({ view: { id: `V${String(++this.tsCounter).padStart(8, '0')}`, ...(args.view as Record<string, unknown>) } });
      }
      case 'chat.postEphemeral':
        if (typeof args.user !== 'string' || typeof args.channel !== 'string') return fail('user_not_in_channel');
        return ok({ message_ts: `${1_700_000_000 + this.tsCounter}.${String(++this.tsCounter).padStart(6, '0')}` });
      default:
        return fail('unknown_method');
    }
  }
}

// ---- what Slack sends the app when someone clicks a button ----

export interface Button {
  action_id: string;
  value: string;
  block_id: string;
  text: { text: string };
  style?: string;
  confirm?: Record<string, unknown>;
}

/** The button with this action_id in a message's blocks; fails naming the buttons there are. */
export function buttonIn(blocks: unknown, actionId: string): Button {
  const all: Button[] = [];
  for (const block of (blocks ?? []) as { type: string; block_id?: string; elements?: Record<string, unknown>[] }[]) {
    if (block.type !== 'actions') continue;
    for (const e of block.elements ?? []) all.push({ ...(e as unknown as Button), block_id: block.block_id ?? '' });
  }
  const found = all.find((b) => b.action_id === actionId);
  if (!found) throw new Error(`no button ${actionId} in the message (buttons: ${all.map((b) => b.action_id).join(', ') || 'none'})`);
  return found;
}

let clicks = 0;

/** The fields Slack puts in every interaction: the workspace, the user, the app. */
const sentBy = (user: string) => ({
  team: { id: 'TFAKE', domain: 'spark' },
  user: { id: user, username: user.toLowerCase(), team_id: 'TFAKE' },
  api_app_id: 'AFAKEAPP',
  token: 'legacy-verification-token',
});

/** A block_actions payload as Slack posts it to the Interactivity Request URL (each click its own trigger and action_ts). */
export function blockActionPayload(opts: { user: string; channel: string; ts: string; button: Button }): Record<string, unknown> {
  clicks += 1;
  const actionTs = `${Math.floor(Date.now() / 1000)}.${String(clicks).padStart(6, '0')}`;
  return {
    type: 'block_actions',
    ...sentBy(opts.user),
    container: { type: 'message', message_ts: opts.ts, channel_id: opts.channel, is_ephemeral: false },
    trigger_id: `${clicks}.2222.${Date.now()}`,
    channel: { id: opts.channel, name: 'spark-warroom' },
    message: { type: 'message', ts: opts.ts, text: '', user: 'UFAKEBOT' },
    response_url: 'https://hooks.slack.invalid/actions/TFAKE/1/abc',
    actions: [{ type: 'button', action_id: opts.button.action_id, block_id: opts.button.block_id, text: opts.button.text, value: opts.button.value, action_ts: actionTs }],
  };
}

/**
 * A view_submission payload for a modal the app opened (`view` as views.open sent it), with
 * `inputs` (action_id to typed text) in its input blocks, as Slack posts it when the user submits.
 */
export function viewSubmissionPayload(opts: { user: string; view: Record<string, unknown>; inputs: Record<string, string> }): Record<string, unknown> {
  const values: Record<string, Record<string, { type: string; value: string | null }>> = {};
  for (const block of (opts.view.blocks ?? []) as { type: string; block_id?: string; element?: { type: string; action_id: string } }[]) {
    if (block.type !== 'input' || !block.element || !block.block_id) continue;
    values[block.block_id] = { [block.element.action_id]: { type: block.element.type, value: opts.inputs[block.element.action_id] ?? null } };
  }
  clicks += 1;
  return {
    type: 'view_submission',
    ...sentBy(opts.user),
    trigger_id: `${clicks}.3333.${Date.now()}`,
    view: {
      id: `VSUBMIT${clicks}`, team_id: 'TFAKE', type: 'modal', callback_id: opts.view.callback_id, private_metadata: opts.view.private_metadata,
      blocks: opts.view.blocks, title: opts.view.title, state: { values }, hash: `${clicks}.hash`, app_id: 'AFAKEAPP', bot_id: 'BFAKEBOT',
    },
  };
}

/** Posts an interaction the way Slack does, signed with `secret` at `timestamp` (default now). */
export async function postInteraction(
  url: string,
  secret: string,
  payload: Record<string, unknown>,
  opts: { timestamp?: number; signature?: string } = {},
): Promise<{ status: number; body: string; raw: { body: string; timestamp: string; signature: string } }> {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = opts.signature ?? signSlackRequest(secret, timestamp, body);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
    body,
  });
  return { status: res.status, body: await res.text(), raw: { body, timestamp, signature } };
}

/** Sends exactly the bytes and headers of an earlier request again (a replay). */
export async function replay(url: string, raw: { body: string; timestamp: string; signature: string }): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': raw.timestamp, 'x-slack-signature': raw.signature },
    body: raw.body,
  });
  await res.text();
  return res.status;
}
