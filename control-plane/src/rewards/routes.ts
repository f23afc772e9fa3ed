// HTTP routes of the rewards API (registered by the ApiServer).
import type { FastifyInstance } from 'fastify';
import { ControlPlaneError, InvalidRequestError } from '../errors.ts';
import type { RewardsService } from './service.ts';

const disabled = (): ControlPlaneError =>
  new ControlPlaneError('rewards are disabled on this control plane', { status: 503, details: 'it runs with --no-chain (chain.enabled = false)' });

/**
 * GET  /v1/rewards/owners/:address                           an owner's earnings, claim state and proof
 * GET  /v1/rewards/epochs                                    every epoch, the poster's state, the chain
 * GET  /v1/rewards/contributions/:jobId/:shardIndex/proof    a contribution's proof against its epoch's root
 * POST /v1/rewards/epochs/close                              close the open epoch now
 */
export function registerRewardRoutes(app: FastifyInstance, rewards: RewardsService | null): void {
  const need = (): RewardsService => {
    if (!rewards) throw disabled();
    return rewards;
  };

  app.get<{ Params: { address: string } }>('/v1/rewards/owners/:address', async (req) => need().owner(req.params.address));

  app.get('/v1/rewards/epochs', async () => need().epochs());

  app.get<{ Params: { jobId: string; shardIndex: string } }>('/v1/rewards/contributions/:jobId/:shardIndex/proof', async (req) => {
    const shardIndex = Number(req.params.shardIndex);
    if (!/^\d{1,10}$/.test(req.params.shardIndex) || !Number.isSafeInteger(shardIndex)) {
      throw new InvalidRequestError('shard index must be a non-negative integer');
    }
    return need().contributionProof(req.params.jobId, shardIndex);
  });

  app.post('/v1/rewards/epochs/close', async (_req, reply) => reply.code(201).send({ epoch: need().closeEpoch() }));
}
