// What a browser sees of the demo service: the security headers on every
// response (CSP with a per-response nonce, COEP, COOP, CORP, HSTS), the trading
// page, and the feature flags with their explicit defaults. The broken build
// (--broken) gets each of them wrong in a way a release check must catch.
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** The one third party the page loads; the CSP allowlists it. */
export const CDN_ORIGIN = 'https://cdn.spark-trading.example';
/** A tracker the broken page loads without the CSP allowing it, and without CORS under COEP. */
const TRACKER_ORIGIN = 'https://tracker.adnet.example';
export const CSP_REPORT_PATH = '/csp-report';
const HSTS = 'max-age=31536000; includeSubDomains; preload';

/** Sets the headers and returns the nonce the page's inline script and style must carry. */
export function setSecurityHeaders(res: ServerResponse, broken: boolean): string {
  const nonce = randomBytes(16).toString('base64');
  if (broken) {
    // The broken build: a CSP without nonce or report endpoint, no cross-origin isolation, HSTS for a day.
    res.setHeader('content-security-policy', "default-src 'self'; script-src 'self' 'unsafe-inline'");
    res.setHeader('strict-transport-security', 'max-age=86400');
    return nonce;
  }
  res.setHeader('content-security-policy', [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' ${CDN_ORIGIN}`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    `report-uri ${CSP_REPORT_PATH}`,
  ].join('; '));
  res.setHeader('cross-origin-embedder-policy', 'require-corp');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  res.setHeader('strict-transport-security', HSTS);
  return nonce;
}

export function tradingPage(nonce: string, version: string, broken: boolean): string {
  const thirdParty = broken
    ? `<script src="${TRACKER_ORIGIN}/pixel.js"></script>\n  <img src="${TRACKER_ORIGIN}/beacon.gif" alt="">`
    : `<script src="${CDN_ORIGIN}/charts.js" crossorigin="anonymous" integrity="sha384-demo"></script>`;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Spark Trading ${version}</title>
  <link rel="stylesheet" href="/static/app.css">
  <style nonce="${nonce}">body { font-family: sans-serif; }</style>
  ${thirdParty}
  <script src="/static/app.js"></script>
</head>
<body>
  <main id="quotes">Spark Trading ${version}</main>
  <script nonce="${nonce}">window.sparkVersion = ${JSON.stringify(version)};</script>
</body>
</html>
`;
}

/** Same-origin assets the page loads. */
export const STATIC_ASSETS: Record<string, { type: string; body: string }> = {
  '/static/app.css': { type: 'text/css', body: 'main { padding: 1rem; }\n' },
  '/static/app.js': { type: 'text/javascript', body: 'document.getElementById("quotes").dataset.ready = "1";\n' },
};

export interface FeatureFlag {
  key: string;
  description: string;
  /** The state the flag falls back to; null means no explicit default (a blind spot). */
  default: boolean | null;
  /** The state it is in now. */
  value: boolean;
}

/** Flags of this release: new code paths ship dark (default off, and off) until the canary proves them. */
export function featureFlags(broken: boolean): FeatureFlag[] {
  const flags: FeatureFlag[] = [
    { key: 'order-preview', description: 'Pre-trade preview of notional and commission', default: true, value: true },
    { key: 'smart-order-routing', description: 'Route orders across venues (new in v1.4.0)', default: false, value: false },
    { key: 'ws-delta-ticks', description: 'Send tick deltas instead of snapshots (new in v1.4.0)', default: false, value: false },
  ];
  if (!broken) return flags;
  // The broken build: a new path switched on before its canary, and a flag nobody gave a default.
  return [flags[0]!, { ...flags[1]!, value: true }, { ...flags[2]!, default: null }];
}
