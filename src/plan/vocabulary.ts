// The run-of-show's fixed words, importable by workflow code: no dependencies,
// so nothing of the plan parser (zod, SPDX, ...) lands in the workflow bundle.

export const PHASES = [
  'freeze', 'war-room', 'preflight', 'blast-radius', 'red-team', 'green-button', 'go-no-go',
  'canary', 'first-night', 'close-out',
] as const;
export type Phase = (typeof PHASES)[number];

export const ACTIONS = ['proceed', 'hold', 'rollback', 'page-human'] as const;
export type Action = (typeof ACTIONS)[number];
export const COMPARATORS = ['<', '<=', '>', '>='] as const;
export type Comparator = (typeof COMPARATORS)[number];

/** The close-out lists this many remaining risks. */
export const REMAINING_RISKS = 3;
