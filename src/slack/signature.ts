// Slack's v0 request signature (https://docs.slack.dev/authentication/verifying-requests-from-slack):
// HMAC-SHA256 of `v0:<timestamp>:<raw body>` keyed by the app's signing secret.
// Stricter than Bolt's own check: a timestamp more than the window away in
// EITHER direction is refused (Bolt refuses only old ones), and a signature
// seen before is refused as a replay.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's documented window. */
export const SIGNATURE_WINDOW_SECONDS = 300;

export class SignatureError extends Error {
  constructor(readonly reason: 'malformed' | 'stale' | 'future-dated' | 'mismatch' | 'replayed', message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

export function signSlackRequest(signingSecret: string, timestampSeconds: number | string, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestampSeconds}:${body}`).digest('hex')}`;
}

export interface SignedRequest {
  timestamp: string | undefined;
  signature: string | undefined;
  body: string;
}

/** Throws a SignatureError saying why, or returns the request's timestamp (seconds). */
export function verifySlackSignature(signingSecret: string, req: SignedRequest, nowMs: number, windowSeconds = SIGNATURE_WINDOW_SECONDS): number {
  if (!signingSecret) throw new Error('signingSecret: empty; set SLACK_SIGNING_SECRET');
  if (req.timestamp === undefined || !/^\d{1,12}$/.test(req.timestamp)) {
    throw new SignatureError('malformed', 'x-slack-request-timestamp: missing or not a Unix time in seconds');
  }
  if (req.signature === undefined || !/^v0=[0-9a-f]{64}$/.test(req.signature)) {
    throw new SignatureError('malformed', 'x-slack-signature: missing or not a v0 signature');
  }
  const ts = Number(req.timestamp);
  const skew = ts - Math.floor(nowMs / 1000);
  if (skew < -windowSeconds) throw new SignatureError('stale', `request timestamp is ${-skew}s old (more than ${windowSeconds}s)`);
  if (skew > windowSeconds) throw new SignatureError('future-dated', `request timestamp is ${skew}s in the future (more than ${windowSeconds}s)`);
  const expected = Buffer.from(signSlackRequest(signingSecret, req.timestamp, req.body));
  const given = Buffer.from(req.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new SignatureError('mismatch', 'signature does not match the body and timestamp');
  }
  return ts;
}

/**
 * Remembers every accepted signature until its timestamp leaves the window, so
 * a captured request cannot be sent again while it would still verify.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowSeconds = SIGNATURE_WINDOW_SECONDS) {}

  /** Throws when `signature` was accepted before; otherwise remembers it. */
  accept(signature: string, timestampSeconds: number, nowMs: number): void {
    const now = Math.floor(nowMs / 1000);
    for (const [sig, expires] of this.seen) if (expires < now) this.seen.delete(sig);
    if (this.seen.has(signature)) throw new SignatureError('replayed', 'this exact request was received before (replay)');
    this.seen.set(signature, timestampSeconds + this.windowSeconds);
  }
}
