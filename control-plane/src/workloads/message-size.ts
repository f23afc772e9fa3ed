import { LIMITS } from '@meshchain/protocol';
import { InvalidRequestError } from '../errors.ts';

/** Room for the envelope, ids, hashes and settings around a shard's inputs or outputs. */
export const MESSAGE_OVERHEAD_BYTES = 4096;

/**
 * Every assignment and every result travels as one MQTT message: refuse a
 * job whose shards could not, rather than let their leases expire.
 * `resultBytes` estimates the largest result of a shard's inputs.
 */
export function assertShardsFitMessages<T>(inputs: readonly T[], shardSize: number, resultBytes: (shard: readonly T[]) => number, hint: string): void {
  for (let start = 0; start < inputs.length; start += shardSize) {
    const shard = inputs.slice(start, start + shardSize);
    const assignmentBytes = Buffer.byteLength(JSON.stringify(shard)) + MESSAGE_OVERHEAD_BYTES;
    const largest = Math.max(assignmentBytes, resultBytes(shard) + MESSAGE_OVERHEAD_BYTES);
    if (largest > LIMITS.maxPayloadBytes) {
      throw new InvalidRequestError(
        `shard ${start / shardSize} could need a ${Math.ceil(largest / 1024)} KiB message, over the ${LIMITS.maxPayloadBytes / 1024} KiB limit`,
        { details: hint },
      );
    }
  }
}

export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
