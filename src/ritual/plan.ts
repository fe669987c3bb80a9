// The plan's `ritual` section: what the green button's SBOM, provenance and
// licence policy are built from (docs/ritual.md). Part of src/plan/schema.ts,
// which the workflow bundle loads: the SPDX checks of the licence lists need the
// SPDX licence list (JSON the bundle cannot load), so they live in
// licencePolicyProblems (./licence.ts), run by the CLI and the ritual checks.
import { z } from 'zod';

export const ritualSchema = z.strictObject({
  /** npm lock file of the released service; relative paths are resolved against the worker's project root. */
  lockfile: z.string().min(1).default('package-lock.json'),
  /** The released service's source directory: its tree digest is the subject of the provenance. */
  sourceDir: z.string().min(1).default('demo'),
  licences: z.strictObject({
    /** Single SPDX licences (e.g. MIT, GPL-2.0-or-later) a component may be used under. */
    allow: z.array(z.string().min(1)).min(1, 'list the licences a release may ship'),
    /** Restrictive licences, reported as such when a component cannot avoid them. */
    deny: z.array(z.string().min(1)).default([]),
    /** Licences a person concluded for packages that declare none (or a wrong one), with why. */
    clarifications: z.array(z.strictObject({
      package: z.string().regex(/^(@[^\s/@]+\/)?[^\s/@]+@[^\s@]+$/, 'name@version, e.g. unionfs@4.6.0'),
      licence: z.string().min(1),
      reason: z.string().trim().min(1, 'say why the declared licence is not the right one'),
    })).default([]),
    /** A previous release's CycloneDX SBOM; licence changes against it are reported as drift. */
    reference: z.string().min(1).optional(),
  }),
});

export type RitualPlan = z.output<typeof ritualSchema>;

/** The checks that read the ritual section. */
export const RITUAL_CHECKS = ['sbom', 'build-provenance', 'blind-sbom-provenance', 'rt-sbom-attached', 'rt-sbom-licence-drift'];

/** A ritual check listed without a ritual section to build from. */
export function ritualProblems(ritual: RitualPlan | undefined, plannedChecks: string[]): { path: (string | number)[]; message: string }[] {
  if (ritual) return [];
  const needing = plannedChecks.filter((c) => RITUAL_CHECKS.includes(c));
  return needing.length ? [{ path: ['ritual'], message: `the checks ${needing.join(', ')} need a ritual section (lockfile, sourceDir, licences)` }] : [];
}
