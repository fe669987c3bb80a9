// Small pieces shared by the adapters that speak HTTP (Prometheus, the demo router).

/** Checks that `value` is an absolute http(s) URL and returns it without a trailing slash. */
export function requireHttpUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`${field} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${field} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${field} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, '');
}

/** Checks that `value` is a whole number of milliseconds above zero. */
export function requireTimeoutMs(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${field} must be a positive whole number of milliseconds, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Turns what fetch() threw into one line for an operator: the timeout, or the
 * socket error code (ECONNREFUSED, ENOTFOUND, ...) that undici hides in `cause`.
 */
export function describeFetchFailure(error: unknown, what: string, url: string, timeoutMs: number): string {
  // Duck-typed: errors from another realm (e.g. under jest) fail `instanceof Error`.
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (name === 'TimeoutError' || name === 'AbortError') {
    return `${what} at ${url} did not answer within ${timeoutMs} ms`;
  }
  const reason = [cause?.code, cause?.message, message].find((text) => typeof text === 'string' && text !== '') ?? String(error);
  return `${what} unreachable at ${url}: ${String(reason)}`;
}
