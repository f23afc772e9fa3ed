/** Network counters and the rates between two readings. Pure. */
import type { NetworkCounter } from './source.ts';

export interface CounterReading {
  /** ms since epoch. */
  at: number;
  counters: readonly NetworkCounter[];
}

export interface NetworkRates {
  rxBytesPerSec: number;
  txBytesPerSec: number;
}

/**
 * Bytes per second between two readings, summed over the interfaces present
 * in both. An interface whose counter went back (reset, re-created) is left
 * out of that interval. Null when time did not move forward.
 */
export function networkRates(previous: CounterReading, next: CounterReading): NetworkRates | null {
  const seconds = (next.at - previous.at) / 1000;
  if (!(seconds > 0)) return null;
  const before = new Map(previous.counters.map((c) => [c.iface, c]));
  let rx = 0;
  let tx = 0;
  for (const counter of next.counters) {
    const old = before.get(counter.iface);
    if (!old) continue;
    const drx = counter.rxBytes - old.rxBytes;
    const dtx = counter.txBytes - old.txBytes;
    if (drx < 0 || dtx < 0) continue;
    rx += drx;
    tx += dtx;
  }
  return { rxBytesPerSec: rx / seconds, txBytesPerSec: tx / seconds };
}

/**
 * Parses Linux's /proc/net/dev: per interface, received bytes are the first
 * field and transmitted bytes the ninth.
 */
export function parseProcNetDev(text: string): NetworkCounter[] {
  const counters: NetworkCounter[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const iface = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    const rxBytes = fields[0];
    const txBytes = fields[8];
    if (!iface || rxBytes === undefined || txBytes === undefined || !Number.isFinite(rxBytes) || !Number.isFinite(txBytes)) {
      continue;
    }
    counters.push({ iface, rxBytes, txBytes });
  }
  return counters;
}
