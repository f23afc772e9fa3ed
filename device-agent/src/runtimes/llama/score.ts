/**
 * Teacher-forced scoring: feed prompt + claimed tokens in one prefill and read,
 * at each claimed position, the claimed token's logit, the top token and the
 * softmax normaliser. Much cheaper than regenerating the claim.
 */
import type { ControlledEvaluateInputItem, LlamaContextSequence, Token } from 'node-llama-cpp';
import { RuntimeError } from './errors.ts';
import type { TokenScore } from './types.ts';

export interface ScoreClaimParameters {
  sequence: LlamaContextSequence;
  promptTokens: readonly Token[];
  claimedTokens: readonly Token[];
}

export async function scoreClaim(parameters: ScoreClaimParameters): Promise<TokenScore[]> {
  const { sequence, promptTokens, claimedTokens } = parameters;
  if (claimedTokens.length === 0) return [];
  await sequence.clearHistory();

  const all = [...promptTokens, ...claimedTokens];
  const firstScored = promptTokens.length - 1;
  // The last claimed token is never fed: nothing after it is scored.
  const input: ControlledEvaluateInputItem[] = all.slice(0, -1).map((token, index) => {
    if (index < firstScored) return token;
    const next = all[index + 1] as Token;
    return [
      token,
      {
        generateNext: {
          // includeTop, not includeMax: includeMax does not return the max token.
          logits: { filter: { tokens: [next], includeTop: 1 } },
          totalLogitWeight: true,
          // Temperature 0 so the logits are the model's, untouched by sampling.
          options: { temperature: 0 },
        },
      },
    ];
  });
  const output = await sequence.controlledEvaluate(input);

  return claimedTokens.map((claimed, index) => {
    const next = output[firstScored + index]?.next;
    const logits = next?.logits;
    const claimedLogit = logits?.get(claimed);
    const top = logits?.entries().next().value;
    const totalLogitWeight = next?.totalLogitWeight;
    if (claimedLogit === undefined || top === undefined || totalLogitWeight === undefined) {
      throw new RuntimeError(`llama.cpp returned no logits for claimed token #${index}`);
    }
    const [topToken, maxLogit] = top;
    return {
      token: claimed,
      claimedLogit,
      maxLogit,
      topToken,
      logprob: claimedLogit - maxLogit - Math.log(totalLogitWeight),
    };
  });
}
