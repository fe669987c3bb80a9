// Checked conversions for the demo CLIs' flags; errors name the flag (e.g. "--port").
import { InputError } from './http-json';

export function numberFlag(value: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new InputError(flag, `must be a number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return n;
}

export function portFlag(value: string | undefined, flag: string, fallback: number): number {
  const port = numberFlag(value, flag, fallback, 1, 65_535);
  if (!Number.isInteger(port)) throw new InputError(flag, `must be an integer port (got ${JSON.stringify(value)})`);
  return port;
}

/** Runs a CLI's main, printing a flag error as one line and exiting 2. */
export function runCli(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof InputError ? `error: ${err.message}` : err);
    process.exit(err instanceof InputError ? 2 : 1);
  });
}

/** Calls `stop` once on SIGINT/SIGTERM, or when the parent closes our stdin
 * (so a child dies with a parent that could not clean up). */
export function onShutdown(stop: () => Promise<void>, withParent: boolean): void {
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  if (withParent) {
    process.stdin.on('end', shutdown);
    process.stdin.on('error', shutdown);
    process.stdin.resume();
  }
}
