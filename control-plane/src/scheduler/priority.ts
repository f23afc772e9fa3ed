import { InvalidRequestError } from '../errors.ts';
import { DEFAULT_JOB_PRIORITY } from '../jobs/job-store.ts';

export const MIN_JOB_PRIORITY = 1;
export const MAX_JOB_PRIORITY = 100;

/**
 * A job's fair-share weight from a submit request's optional `priority`
 * field: an integer from 1 to 100, 10 when absent.
 */
export function parsePriority(body: unknown): number {
  const value = typeof body === 'object' && body !== null ? (body as { priority?: unknown }).priority : undefined;
  if (value === undefined || value === null) return DEFAULT_JOB_PRIORITY;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_JOB_PRIORITY || value > MAX_JOB_PRIORITY) {
    throw new InvalidRequestError('invalid job', {
      details: `priority: expected an integer from ${MIN_JOB_PRIORITY} to ${MAX_JOB_PRIORITY} (default ${DEFAULT_JOB_PRIORITY}), got ${JSON.stringify(value)}`,
    });
  }
  return value;
}
