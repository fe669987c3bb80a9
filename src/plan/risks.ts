// A risk the release leaves open (close-out, spec section 9): the plan's, or
// entered by a human through an update (validated in the workflow with this schema).
import { z } from 'zod';

export const remainingRiskSchema = z.strictObject({
  description: z.string().trim().min(1),
  owner: z.string().trim().min(1),
  due: z.iso.date('a date such as 2026-12-01'),
  mitigation: z.string().trim().min(1),
  status: z.enum(['open', 'mitigating', 'accepted', 'closed']).default('open'),
});
export type RemainingRisk = z.output<typeof remainingRiskSchema>;
