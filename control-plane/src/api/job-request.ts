import { z } from 'zod';
import { WORKLOADS } from '@meshchain/protocol';
import { InvalidRequestError } from '../errors.ts';
import { workloadModule, type ParsedJobRequest } from '../workloads/index.ts';
import { submitInferSchema } from '../workloads/infer.ts';
import { submitSyntheticSchema } from '../workloads/synthetic.ts';
import { submitEmbedSchema } from '../workloads/embed.ts';

export { DEFAULT_SETTINGS, MAX_JOB_INPUTS } from '../workloads/infer.ts';
export type { ParsedJobRequest } from '../workloads/index.ts';

/** The body of `POST /v1/jobs`: one member per workload. */
export const submitJobSchema = z.discriminatedUnion('workload', [submitInferSchema, submitSyntheticSchema, submitEmbedSchema]);
export type SubmitJobRequest = z.input<typeof submitJobSchema>;

/** Validates a job request with its workload's rules and fills the defaults. */
export function parseJobRequest(body: unknown): ParsedJobRequest {
  const workload = typeof body === 'object' && body !== null ? (body as { workload?: unknown }).workload : undefined;
  if (typeof workload !== 'string' || !(WORKLOADS as readonly string[]).includes(workload)) {
    throw new InvalidRequestError('invalid job', { details: `workload: expected one of ${WORKLOADS.join(', ')}` });
  }
  return workloadModule(workload).parseRequest(body);
}
