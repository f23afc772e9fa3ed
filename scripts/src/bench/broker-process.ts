/**
 * The broker benchmark's server side, run as its own process so that its
 * memory can be read apart from the clients' and it gets a core of its own:
 * a MeshBroker on 127.0.0.1, port 0, answering memory readings over IPC.
 * Started by broker.ts with `node --import tsx --expose-gc`.
 */
import { MeshBroker } from '@meshchain/broker';

export type BrokerProcessRequest = { kind: 'memory' } | { kind: 'stop' };
export type BrokerProcessMessage =
  | { kind: 'ready'; url: string }
  | { kind: 'memory'; rss: number; heapUsed: number; connectedClients: number }
  | { kind: 'stopped' };

function send(message: BrokerProcessMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const controlPlaneId = process.argv[2];
  if (!process.send || !controlPlaneId) {
    process.stderr.write('broker-process.ts is started by the broker benchmark (IPC channel and a control-plane id)\n');
    process.exit(2);
  }
  const broker = new MeshBroker({ host: '127.0.0.1', port: 0, enrollment: 'open', trustedControlPlanes: new Set([controlPlaneId]) });
  const { url } = await broker.start();
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => (stopping ??= broker.stop());

  process.on('message', (message: BrokerProcessRequest) => {
    if (message.kind === 'memory') {
      // Two collections: the first may only schedule finalisers.
      globalThis.gc?.();
      globalThis.gc?.();
      const memory = process.memoryUsage();
      send({ kind: 'memory', rss: memory.rss, heapUsed: memory.heapUsed, connectedClients: broker.stats.connectedClients });
    } else if (message.kind === 'stop') {
      void stop().then(() => {
        send({ kind: 'stopped' });
        process.disconnect();
      });
    }
  });
  // The benchmark went away: nothing is left to serve.
  process.on('disconnect', () => void stop().then(() => process.exit(0)));
  send({ kind: 'ready', url });
}

await main();
