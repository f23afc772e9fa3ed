/** Reads network counters of the physical interfaces. */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseProcNetDev } from './network.ts';
import type { NetworkCounter } from './source.ts';

export interface NetworkCounterReaderOptions {
  /** Default /proc/net/dev. */
  procNetDev: string;
  /** Default /sys/class/net: an interface with a `device` link there is hardware. */
  netRoot: string;
  /** Used where /proc/net/dev does not exist (not Linux). */
  fallback: () => Promise<NetworkCounter[]>;
}

/**
 * One file read per sample. Only interfaces backed by a device count, so
 * loopback, bridges, veth pairs and VPN tunnels (whose traffic also crosses a
 * physical interface) are not counted twice. What each name is gets cached.
 */
export function createNetworkCounterReader(options: NetworkCounterReaderOptions): () => Promise<NetworkCounter[]> {
  const physical = new Map<string, boolean>();
  const isPhysical = async (iface: string): Promise<boolean> => {
    let known = physical.get(iface);
    if (known === undefined) {
      known = await access(join(options.netRoot, iface, 'device')).then(
        () => true,
        () => false,
      );
      physical.set(iface, known);
    }
    return known;
  };
  return async () => {
    let text: string;
    try {
      text = await readFile(options.procNetDev, 'utf8');
    } catch {
      return (await options.fallback()).filter((c) => c.iface !== 'lo');
    }
    const counters = parseProcNetDev(text);
    const keep = await Promise.all(counters.map((c) => isPhysical(c.iface)));
    return counters.filter((_, i) => keep[i]);
  };
}
