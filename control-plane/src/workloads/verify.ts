import { ControlPlaneError, InvalidRequestError } from '../errors.ts';
import type { WorkloadModule } from './types.ts';

const notAJob = (): never => {
  throw new ControlPlaneError('verification tasks are not shards of a job: the spot checker sends and judges them (trust/)');
};

/**
 * Verification tasks for nodes with role `validator`. They are not jobs: the
 * spot checker (`trust/validator-nodes.ts`) builds their assignments from a
 * sampled result and takes their signed verdicts; this module only keeps the
 * workload table complete and refuses `verify` as a job.
 */
export const verifyWorkload: WorkloadModule = {
  name: 'verify',
  recomputedAtAdmission: false,
  parseRequest() {
    throw new InvalidRequestError('invalid job', { details: 'workload "verify" cannot be submitted: the control plane assigns verification tasks itself' });
  },
  leaseMs: notAJob,
  assignment: notAJob,
  judge: () => 'a verification verdict is not a shard result',
  work: () => ({ tokens: 0, computeMs: 0 }),
  units: notAJob,
  outputLines: notAJob,
};
