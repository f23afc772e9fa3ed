import type { z } from 'zod';
import { zodSummary } from '@meshchain/protocol';
import { InvalidRequestError } from '../errors.ts';

/**
 * Checks a job request against its workload's submit schema and returns it
 * with the defaults filled in. A bad request is an InvalidRequestError
 * "invalid job" whose details name every problem (the API answers 400).
 */
export function parseRequestBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new InvalidRequestError('invalid job', { details: zodSummary(parsed.error) });
  return parsed.data;
}
