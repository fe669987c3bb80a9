// A small GitHub REST API on loopback for the demo and the freeze tests: one repository's
// pull requests and issues, their labels, pagination with Link headers (pages
// smaller than GitHub's so a handful of pull requests spans several), token
// auth, and injected failures. Only the endpoints the freeze uses.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeIssue {
  number: number;
  title: string;
  state: 'open' | 'closed';
  labels: string[];
  /** Pull requests are issues with this flag, as in GitHub's API. */
  pullRequest: boolean;
}

export interface FakeGitHub {
  url: string;
  repository: string;
  issues: Map<number, FakeIssue>;
  /** Every request as "METHOD /path?query". */
  requests: string[];
  /** The next `count` requests answer `status`. */
  failNext(status: number, count?: number): void;
  add(issue: Omit<FakeIssue, 'state' | 'labels'> & Partial<Pick<FakeIssue, 'state' | 'labels'>>): void;
  close(): Promise<void>;
}

export async function startFakeGitHub(opts: { repository: string; token?: string; pageSize?: number }): Promise<FakeGitHub> {
  const pageSize = opts.pageSize ?? 2;
  const issues = new Map<number, FakeIssue>();
  const requests: string[] = [];
  let failures: { status: number; count: number } | null = null;
  const base = `/repos/${opts.repository}`;

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
  };
  const labelsOf = (i: FakeIssue) => i.labels.map((name, k) => ({ id: i.number * 100 + k, name, color: 'ededed' }));
  const render = (i: FakeIssue, asPull: boolean) => ({
    number: i.number, title: i.title, state: i.state, labels: labelsOf(i),
    ...(asPull ? {} : i.pullRequest ? { pull_request: { url: `${server.url}${base}/pulls/${i.number}` } } : {}),
  });
  const page = (res: http.ServerResponse, url: URL, items: unknown[]) => {
    const perPage = Math.min(pageSize, Number(url.searchParams.get('per_page') ?? 30));
    const n = Number(url.searchParams.get('page') ?? 1);
    const headers: Record<string, string> = {};
    if (n * perPage < items.length) {
      const next = new URL(url.toString());
      next.searchParams.set('page', String(n + 1));
      headers.link = `<${next.toString()}>; rel="next"`;
    }
    json(res, 200, items.slice((n - 1) * perPage, n * perPage), headers);
  };
  const body = async (req: http.IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', server.url);
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (failures && failures.count > 0) {
      failures.count -= 1;
      return json(res, failures.status, { message: 'injected failure' });
    }
    if (opts.token && req.headers.authorization !== `token ${opts.token}`) return json(res, 401, { message: 'Bad credentials' });
    const path = decodeURIComponent(url.pathname);
    if (!path.startsWith(`${base}/`)) return json(res, 404, { message: 'Not Found' });
    const rest = path.slice(base.length);
    const open = [...issues.values()].filter((i) => i.state === 'open').sort((a, b) => b.number - a.number);

    if (req.method === 'GET' && rest === '/pulls') {
      return page(res, url, open.filter((i) => i.pullRequest).map((i) => render(i, true)));
    }
    if (req.method === 'GET' && rest === '/issues') {
      const wanted = url.searchParams.get('labels')?.split(',').filter(Boolean) ?? [];
      return page(res, url, open.filter((i) => wanted.every((l) => i.labels.includes(l))).map((i) => render(i, false)));
    }
    const labels = /^\/issues\/(\d+)\/labels(?:\/(.+))?$/.exec(rest);
    const issue = labels ? issues.get(Number(labels[1])) : undefined;
    if (labels && !issue) return json(res, 404, { message: 'Not Found' });
    if (req.method === 'POST' && labels && !labels[2]) {
      const added = (await body(req)) as { labels?: unknown };
      if (!Array.isArray(added.labels) || !added.labels.every((l) => typeof l === 'string')) return json(res, 422, { message: 'labels must be strings' });
      for (const l of added.labels as string[]) if (!issue!.labels.includes(l)) issue!.labels.push(l);
      return json(res, 200, labelsOf(issue!));
    }
    if (req.method === 'DELETE' && labels?.[2]) {
      if (!issue!.labels.includes(labels[2])) return json(res, 404, { message: 'Label does not exist' });
      issue!.labels = issue!.labels.filter((l) => l !== labels[2]);
      return json(res, 200, labelsOf(issue!));
    }
    return json(res, 404, { message: 'Not Found' });
  };

  const http_ = http.createServer((req, res) => {
    handle(req, res).catch((err) => json(res, 500, { message: (err as Error).message }));
  });
  await new Promise<void>((resolve) => http_.listen(0, '127.0.0.1', resolve));
  const server: FakeGitHub = {
    url: `http://127.0.0.1:${(http_.address() as AddressInfo).port}`,
    repository: opts.repository,
    issues,
    requests,
    failNext(status, count = 1) {
      failures = { status, count };
    },
    add(issue) {
      issues.set(issue.number, { state: 'open', labels: [], ...issue });
    },
    close: () => new Promise<void>((resolve) => {
      http_.closeAllConnections();
      http_.close(() => resolve());
    }),
  };
  return server;
}
