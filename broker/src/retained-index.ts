import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { AedesOptions } from 'aedes';

type Persistence = NonNullable<AedesOptions['persistence']>;
interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
}
type StoreRetained = (packet: RetainedPacket, cb?: (error?: Error | null) => void) => unknown;
type RetainedStream = (pattern: string) => Readable;
type RetainedStreamCombi = (patterns: string[]) => Readable;

const hasWildcard = (pattern: string): boolean => pattern.includes('+') || pattern.includes('#');

/**
 * aedes' in-memory persistence, with retained messages also indexed by
 * topic. Its own lookup tests every retained message against each new
 * subscription, so a fleet where every node keeps retained presence and
 * capabilities and subscribes to its own exact topics costs O(nodes) per
 * subscription, O(nodes²) to connect. Exact-topic subscriptions (every
 * node's) are answered from the index; wildcard ones still take aedes' path.
 */
export function memoryPersistenceWithRetainedIndex(): Persistence {
  // aedes' own default persistence, resolved from aedes so both always agree.
  const requireFromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
  const memory = requireFromAedes('aedes-persistence') as () => Persistence;
  const persistence = memory();
  const target = persistence as unknown as { storeRetained: StoreRetained; createRetainedStream: RetainedStream; createRetainedStreamCombi: RetainedStreamCombi };
  const byTopic = new Map<string, RetainedPacket>();
  const storeRetained = target.storeRetained.bind(persistence);
  const stream = target.createRetainedStream.bind(persistence);
  const streamCombi = target.createRetainedStreamCombi.bind(persistence);
  target.storeRetained = (packet, cb) => {
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
    return storeRetained(packet, cb);
  };
  const exact = (patterns: string[]): Readable => Readable.from(patterns.flatMap((p) => (byTopic.has(p) ? [byTopic.get(p)] : [])));
  target.createRetainedStream = (pattern) => (hasWildcard(pattern) ? stream(pattern) : exact([pattern]));
  target.createRetainedStreamCombi = (patterns) => (patterns.some(hasWildcard) ? streamCombi(patterns) : exact(patterns));
  return persistence;
}
