// What a browser sees of the canary: security headers (preflight 5), the CSP
// allowlist, report endpoint and cross-origin isolation (blind spot 5), HSTS
// preload (red team 4, corner case 4), COEP/COOP compatibility of the page's
// subresources (red team 5) and a CSP report flood (red team 14).
import { limit, ms, percentile, probe, sectionCheck, targetCheck, targetOf, verdict, type ProbeAnswer } from './target-access';
import type { CheckEnv } from './types';

const SECURITY_HEADERS = ['content-security-policy', 'cross-origin-embedder-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'strict-transport-security'];

export function parseCsp(header: string | null): Map<string, string[]> {
  const csp = new Map<string, string[]>();
  for (const part of (header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name && !csp.has(name.toLowerCase())) csp.set(name.toLowerCase(), values);
  }
  return csp;
}

export function parseHsts(header: string | null): { maxAge: number | null; includeSubDomains: boolean; preload: boolean } {
  const parts = (header ?? '').split(';').map((p) => p.trim().toLowerCase());
  const maxAge = parts.find((p) => p.startsWith('max-age='));
  return { maxAge: maxAge ? Number(maxAge.slice(8).replaceAll('"', '')) : null, includeSubDomains: parts.includes('includesubdomains'), preload: parts.includes('preload') };
}

interface Subresource {
  tag: string;
  url: URL;
  crossorigin: boolean;
}

/** Scripts, styles, images and frames the page loads. */
export function subresources(html: string, base: string): Subresource[] {
  const found: Subresource[] = [];
  for (const [, tag, attrs] of html.matchAll(/<(script|link|img|iframe)\b([^>]*)>/gi)) {
    const attr = new Map([...attrs!.matchAll(/([\w-]+)(?:\s*=\s*"([^"]*)")?/g)].map(([, k, v]) => [k!.toLowerCase(), v ?? '']));
    const ref = attr.get('src') ?? (tag!.toLowerCase() === 'link' ? attr.get('href') : undefined);
    if (ref) found.push({ tag: tag!.toLowerCase(), url: new URL(ref, base), crossorigin: attr.has('crossorigin') });
  }
  return found;
}

const directiveFor: Record<string, string> = { script: 'script-src', link: 'style-src', img: 'img-src', iframe: 'frame-src' };

/** Whether CSP `csp` lets the page load `url` as a `tag`, by the directive (or default-src) source list. */
function cspAllows(csp: Map<string, string[]>, tag: string, url: URL, page: URL): boolean {
  const sources = csp.get(directiveFor[tag]!) ?? csp.get('default-src') ?? ['*'];
  return sources.some((s) => s === '*' || (s === "'self'" && url.origin === page.origin) || s === url.origin || s === `${url.protocol}` || (s.startsWith('https://*.') && url.hostname.endsWith(s.slice(9))));
}

async function page(env: CheckEnv): Promise<{ url: URL; answer: ProbeAnswer }> {
  const url = new URL('/', targetOf(env).canaryUrl);
  return { url, answer: await probe(env, url.href) };
}

/** Preflight 5: CSP with a per-response nonce and a report endpoint, COEP, COOP, CORP, HSTS for a year. */
export const securityHeaders = targetCheck(async (env) => {
  const minAge = limit(env, 'minHstsMaxAgeSeconds');
  const [first, second] = [await page(env), await page(env)];
  const h = first.answer.headers;
  const csp = parseCsp(h.get('content-security-policy'));
  const nonce = (c: Map<string, string[]>) => c.get('script-src')?.find((s) => s.startsWith("'nonce-"));
  const hsts = parseHsts(h.get('strict-transport-security'));
  const problems: string[] = [];
  if (!h.get('content-security-policy')) problems.push('no Content-Security-Policy');
  else {
    if (!nonce(csp)) problems.push("CSP script-src has no 'nonce-...' source");
    else if (nonce(csp) === nonce(parseCsp(second.answer.headers.get('content-security-policy')))) problems.push('the CSP nonce is the same on two responses: it must be new on each');
    if (!csp.has('report-uri') && !csp.has('report-to')) problems.push('CSP has no report-uri or report-to');
  }
  const expect = (name: string, value: string) => {
    if (h.get(name)?.toLowerCase() !== value) problems.push(`${name} is ${h.get(name) ? `"${h.get(name)}"` : 'missing'}, expected ${value}`);
  };
  expect('cross-origin-embedder-policy', 'require-corp');
  expect('cross-origin-opener-policy', 'same-origin');
  expect('cross-origin-resource-policy', 'same-origin');
  if (hsts.maxAge === null) problems.push('no Strict-Transport-Security');
  else if (hsts.maxAge < minAge) problems.push(`HSTS max-age ${hsts.maxAge}s is below ${minAge}s (one year)`);
  const lines = [`GET ${first.url.href} -> ${first.answer.status}`, ...SECURITY_HEADERS.map((n) => `${n}: ${h.get(n) ?? '(missing)'}`)];
  const v = verdict(`Security headers of ${env.release} (run ${env.runId})`, lines, problems, 'CSP with a fresh nonce and a report endpoint, COEP require-corp, COOP and CORP same-origin, HSTS one year');
  return { status: v.status, summary: v.summary, files: { [`csp_headers_${env.version}.txt`]: v.text } };
});

const SAMPLE_REPORT = JSON.stringify({ 'csp-report': { 'document-uri': 'https://spark-release.invalid/probe', 'violated-directive': 'script-src', 'blocked-uri': 'inline' } });

function reportEndpoint(csp: Map<string, string[]>, pageUrl: URL): URL | null {
  const uri = csp.get('report-uri')?.[0];
  return uri ? new URL(uri, pageUrl) : null;
}

/** Blind spot 5: every third party the page loads is allowlisted, the report endpoint answers 204, the page is cross-origin isolated. */
export const blindCspCoopCoep = sectionCheck((v) => `blind_spots_scan_${v}.txt`, async (env) => {
  const { url, answer } = await page(env);
  const csp = parseCsp(answer.headers.get('content-security-policy'));
  const allowlist = new Set(targetOf(env).thirdParties);
  const problems: string[] = [];
  const lines: string[] = [];
  for (const r of subresources(answer.body, url.href).filter((s) => s.url.origin !== url.origin)) {
    const inPlan = allowlist.has(r.url.origin);
    const inCsp = cspAllows(csp, r.tag, r.url, url);
    lines.push(`third party ${r.url.href} (${r.tag}): plan allowlist ${inPlan ? 'yes' : 'NO'}, CSP ${inCsp ? 'allows' : 'BLOCKS'}`);
    if (!inPlan) problems.push(`${r.url.origin} is loaded by the page but not in the plan's allowlist (target.thirdParties)`);
    if (!inCsp) problems.push(`CSP ${directiveFor[r.tag]} does not allow ${r.url.origin}, which the page loads`);
  }
  const endpoint = reportEndpoint(csp, url);
  if (!endpoint) problems.push('CSP names no report-uri to test');
  else {
    const report = await probe(env, endpoint.href, { method: 'POST', headers: { 'content-type': 'application/csp-report' }, body: SAMPLE_REPORT });
    lines.push(`POST ${endpoint.href} -> ${report.status}`);
    if (report.status !== 204) problems.push(`the CSP report endpoint ${endpoint.pathname} answered ${report.status}, not 204`);
  }
  const coop = answer.headers.get('cross-origin-opener-policy');
  const coep = answer.headers.get('cross-origin-embedder-policy');
  const isolated = coop === 'same-origin' && (coep === 'require-corp' || coep === 'credentialless');
  lines.push(`crossOriginIsolated: ${isolated} (COOP ${coop ?? 'missing'}, COEP ${coep ?? 'missing'})`);
  if (!isolated) problems.push('the page would not be crossOriginIsolated (needs COOP same-origin and COEP require-corp)');
  return verdict('Blind spot 5: CSP/COOP/COEP', lines, problems, 'third parties allowlisted, report endpoint 204, crossOriginIsolated');
});

/** Red team 4: HSTS preload demands a year, includeSubDomains and preload; anything less is rejected or a trap. */
export const rtHstsPreload = sectionCheck((v) => `redteam_${v}.txt`, async (env) => {
  const minAge = limit(env, 'minHstsMaxAgeSeconds');
  const { answer } = await page(env);
  const header = answer.headers.get('strict-transport-security');
  const hsts = parseHsts(header);
  const problems: string[] = [];
  if (!header) problems.push('no Strict-Transport-Security header');
  else {
    if ((hsts.maxAge ?? 0) < minAge) problems.push(`max-age ${hsts.maxAge}s is below the preload list's ${minAge}s`);
    if (!hsts.includeSubDomains) problems.push('no includeSubDomains: the preload list refuses the domain');
    if (!hsts.preload) problems.push('no preload directive: first visits stay on plain HTTP');
  }
  return verdict('Red team 4: HSTS preload trap', [`strict-transport-security: ${header ?? '(missing)'}`], problems, 'preload-ready: one year, includeSubDomains, preload');
});

/** Corner case 4: HSTS preload covers every subdomain; a person confirms each serves HTTPS (red-team gate). */
export const ccHstsSubdomains = sectionCheck((v) => `corner_cases_${v}.txt`, async (env) => {
  const { answer } = await page(env);
  const header = answer.headers.get('strict-transport-security');
  const hsts = parseHsts(header);
  const problems = hsts.includeSubDomains ? [] : [`HSTS ${header ? `"${header}"` : '(missing)'} does not cover subdomains (includeSubDomains)`];
  return verdict('Corner case 4: HSTS preload covers every subdomain', [`strict-transport-security: ${header ?? '(missing)'}`,
    'every subdomain must serve HTTPS: a person confirms it at the red-team gate (item with check cc-hsts-subdomains)'], problems, 'includeSubDomains set; subdomains await a person');
});

/** Red team 5: under COEP require-corp every subresource must be same-origin (with CORP) or requested with CORS. */
export const rtCoepCoopCompat = sectionCheck((v) => `redteam_${v}.txt`, async (env) => {
  const { url, answer } = await page(env);
  const coep = answer.headers.get('cross-origin-embedder-policy');
  const problems: string[] = [];
  const lines = [`COEP ${coep ?? '(missing)'}, COOP ${answer.headers.get('cross-origin-opener-policy') ?? '(missing)'}`];
  if (coep !== 'require-corp') problems.push(`COEP is ${coep ?? 'missing'}, not require-corp: the compatibility of the page under isolation is untested`);
  for (const r of subresources(answer.body, url.href)) {
    if (r.url.origin === url.origin) {
      const asset = await probe(env, r.url.href);
      const corp = asset.headers.get('cross-origin-resource-policy');
      lines.push(`${r.url.pathname} (${r.tag}): ${asset.status}, CORP ${corp ?? '(missing)'}`);
      if (asset.status !== 200) problems.push(`${r.url.pathname} answers ${asset.status}`);
    } else {
      lines.push(`${r.url.href} (${r.tag}): cross-origin, ${r.crossorigin ? 'requested with CORS (crossorigin)' : 'NO crossorigin attribute'}`);
      if (!r.crossorigin) problems.push(`${r.url.href} is loaded without crossorigin: COEP require-corp blocks it unless ${r.url.host} sends Cross-Origin-Resource-Policy: cross-origin`);
    }
  }
  return verdict('Red team 5: COEP/COOP compatibility', lines, problems, 'every subresource loads under COEP require-corp');
});

const FLOOD_SENDERS = 20;

/** Red team 14: a burst of CSP reports is all accepted (204, none dropped or erroring) and the service stays healthy.
 * Latency is evidence only: on a loaded machine it measures spare CPU, not the endpoint. */
export const rtCspReportFlood = targetCheck(async (env) => {
  const count = limit(env, 'cspFloodReports');
  const { url, answer } = await page(env);
  const endpoint = reportEndpoint(parseCsp(answer.headers.get('content-security-policy')), url) ?? new URL('/csp-report', url);
  const started = performance.now();
  const answers: ProbeAnswer[] = [];
  let sent = 0;
  // FLOOD_SENDERS reports in flight at any time, as many browsers reporting at once would be.
  await Promise.all(Array.from({ length: Math.min(FLOOD_SENDERS, count) }, async () => {
    while (sent < count) {
      sent += 1;
      answers.push(await probe(env, endpoint.href, { method: 'POST', headers: { 'content-type': 'application/csp-report' }, body: SAMPLE_REPORT }));
    }
  }));
  const wallMs = performance.now() - started;
  const statuses = answers.reduce<Record<number, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {});
  const p95 = percentile(answers.map((a) => a.ms), 95);
  const health = await probe(env, new URL('/healthz', url).href);
  const problems: string[] = [];
  const not204 = count - (statuses[204] ?? 0);
  if (not204) problems.push(`${not204} of ${count} reports were not answered 204 (${Object.entries(statuses).map(([s, n]) => `${n}x ${s}`).join(', ')})`);
  if (health.status !== 200) problems.push(`the service answered /healthz ${health.status} after the flood`);
  const v = verdict(`Red team 14: CSP report flood of ${env.release} (run ${env.runId})`, [
    `POST ${endpoint.href} x ${count}, ${FLOOD_SENDERS} at a time, in ${ms(wallMs)}`,
    `answers: ${Object.entries(statuses).map(([s, n]) => `${n}x ${s}`).join(', ')}`,
    `latency p50 ${ms(percentile(answers.map((a) => a.ms), 50))}, p95 ${ms(p95)}, max ${ms(Math.max(...answers.map((a) => a.ms)))} (evidence, not judged)`,
    `healthz after: ${health.status}`,
  ], problems, `${count} reports answered 204, service healthy`);
  return { status: v.status, summary: v.summary, files: { 'csp_flood_test.txt': v.text } };
});
