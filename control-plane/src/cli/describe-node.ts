import type { TelemetryBody } from '@meshchain/protocol';
import type { NodeRecord } from '../nodes/node-store.ts';

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

function range(values: (number | null)[], unit: string): string {
  const present = values.filter((v): v is number => v !== null);
  if (present.length === 0) return 'n/a';
  return `${Math.min(...present).toFixed(1)}–${Math.max(...present).toFixed(1)} ${unit}`;
}

/** `meshchain nodes show`: one node, its latest sample and the spread over the last hour. */
export function describeNode(node: NodeRecord, history: TelemetryBody[]): string {
  const hw = node.capabilities?.hardware;
  const t = node.telemetry;
  const lines = [
    `${node.id}  ${node.presence}${t?.overheating ? '  OVERHEATING (no new work)' : ''}`,
    `  agent      ${node.capabilities?.agentVersion ?? '-'}  roles ${node.capabilities?.roles.join(',') ?? '-'}`,
    `  hardware   ${hw ? `${hw.arch} ${hw.platform}, ${hw.cpus} × ${hw.cpuModel}, ${gib(hw.memoryBytes)}${hw.gpu ? `, ${hw.gpu}` : ''}` : '-'}`,
    `  work       ${node.shardsCompleted} shards ok, ${node.shardsRejected} rejected, ${node.tokensGenerated} tokens`,
    `  seen       first ${new Date(node.firstSeen).toISOString()}  last ${new Date(node.lastSeen).toISOString()}`,
  ];
  if (t) {
    lines.push(
      `  now        cpu ${t.cpuPct.toFixed(1)} %${t.cpuC === null ? '' : `  ${t.cpuC.toFixed(1)} °C`}  memory ${gib(t.memUsed)} of ${gib(t.memTotal)}` +
        `${t.diskAvail === null ? '' : `  disk ${gib(t.diskAvail)} free`}  up ${Math.floor(t.upS / 3600)} h${t.throttled ? `  throttled 0x${t.throttled.toString(16)}` : ''}`,
      `  last hour  ${history.length} samples  cpu ${range(history.map((h) => h.cpuPct), '%')}  temperature ${range(history.map((h) => h.cpuC), '°C')}`,
    );
  } else {
    lines.push('  telemetry  none yet');
  }
  return lines.join('\n');
}
