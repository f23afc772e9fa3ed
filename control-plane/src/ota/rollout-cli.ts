// `meshchain rollout …`: staged rollouts of a release, and per-device pins, exclusions and tags.
import type { Command } from 'commander';
import { ControlPlaneError } from '../errors.ts';
import type { OtaClient } from './client.ts';
import type { RolloutView } from './rollout-runner.ts';
import type { RolloutRecord } from './rollout-store.ts';

type Print = (json: boolean, value: unknown, human: () => string) => void;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m`, `90s`, `1h`, `500ms`, `0` → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new ControlPlaneError(`${flag} ${text} is not a duration`, { details: 'e.g. 30m, 90s, 1h, 500ms' });
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1));
}

/** `5%` or `0.05` → 0.05. */
export function parseRate(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(text.trim());
  const value = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(value >= 0 && value <= 1)) throw new ControlPlaneError(`${flag} ${text} is not a rate`, { details: 'e.g. 5% or 0.05' });
  return value;
}

function parseInteger(text: string, flag: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new ControlPlaneError(`${flag} ${text} must be a whole number ≥ ${min}`);
  return value;
}

/** `key=value` pairs, repeatable. */
export function parseTags(pairs: readonly string[], flag: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new ControlPlaneError(`${flag} ${pair} is not key=value`, { details: 'e.g. --select ring=beta' });
    tags[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return tags;
}

const pct = (rate: number | null): string => (rate === null ? '-' : `${(rate * 100).toFixed(1)}%`);

export function describeRollout(r: RolloutRecord): string {
  return `${r.id}  ${r.status.padEnd(9)} stage ${r.stage + 1}/${r.spec.stages.length}  release ${r.releaseId.slice(0, 12)}  ${new Date(r.createdAt).toISOString()}${r.reason ? `  (${r.reason})` : ''}`;
}

export function describeRolloutView(v: RolloutView): string {
  const lines = [
    `rollout ${v.rollout.id}: ${v.rollout.status}${v.rollout.reason ? ` (${v.rollout.reason})` : ''}`,
    `release ${v.release.kind} ${v.release.version} (${v.release.id.slice(0, 12)})  population ${v.population}  failure rate ${pct(v.failureRate)} (abort above ${pct(v.rollout.spec.abortFailureRate)})`,
    `stage ${v.rollout.stage + 1}/${v.rollout.spec.stages.length}${v.bakeEndsAt ? `  baking until ${new Date(v.bakeEndsAt).toISOString()}` : ''}`,
    '',
    'stage  target  offered  downloading  installing  installed  healthy  failed  rolled back',
    ...v.stages.map((s) =>
      [`${s.stage + 1} (${s.percent}%)`.padEnd(6), String(s.target).padStart(6), ...(['offered', 'downloading', 'installing', 'installed', 'healthy', 'failed', 'rolled_back'] as const).map((k, i) => String(s.counts[k]).padStart([8, 12, 11, 10, 8, 7, 12][i] ?? 8))].join(' '),
    ),
  ];
  const bad = v.devices.filter((d) => d.state === 'failed' || d.state === 'rolled_back');
  if (bad.length > 0) lines.push('', ...bad.slice(0, 20).map((d) => `  ${d.nodeId}  ${d.state}  ${d.reason ?? ''}  ${d.detail ?? ''}`.trimEnd()));
  if (v.skipped.length > 0) {
    const counts = new Map<string, number>();
    for (const s of v.skipped) counts.set(s.reason, (counts.get(s.reason) ?? 0) + 1);
    lines.push('', `skipped: ${[...counts].map(([reason, n]) => `${n} ${reason}`).join(', ')}`);
  }
  return lines.join('\n');
}

function jsonFlag(command: Command): boolean {
  return Boolean(command.optsWithGlobals<{ json?: boolean }>().json);
}

/** Adds `rollout start|list|status|pause|resume|abort|pin|unpin|exclude|include|tag`. */
export function registerRolloutCommands(program: Command, client: () => OtaClient, print: Print): void {
  const rollout = program.command('rollout').description('staged OTA rollouts: stages, bake time, concurrency, automatic abort');

  rollout
    .command('start <release>')
    .description('offer a release (id, id prefix or version) to the fleet in stages')
    .option('--select <tag=value...>', 'only devices carrying these tags (see `rollout tag`)')
    .option('--stages <list>', 'cumulative percentages ending at 100', '1,10,50,100')
    .option('--bake <duration>', 'how long each stage must stay healthy before the next', '30m')
    .option('--max-concurrent <n>', 'devices updating at once', '100')
    .option('--abort-failure-rate <rate>', 'abort when failed + rolled back over settled devices exceeds this', '5%')
    .option('--min-devices <n>', 'settled devices needed before the failure rate may abort (capped at the stage size)', '20')
    .option('--step-timeout <duration>', 'an update step taking longer than this counts as failed', '30m')
    .option('--exclude <node...>', 'devices this rollout must not touch')
    .option('--force', 'boxes interrupt running shards instead of draining first')
    .option('--json', 'machine-readable output')
    .action(async (release: string, o: { select?: string[]; stages: string; bake: string; maxConcurrent: string; abortFailureRate: string; minDevices: string; stepTimeout: string; exclude?: string[]; force?: boolean }, command: Command) => {
      const stages = o.stages.split(',').map((p) => Number(p.trim().replace(/%$/, '')));
      if (stages.some((p) => !Number.isFinite(p))) throw new ControlPlaneError(`--stages ${o.stages} is not a list of percentages`, { details: 'e.g. 1,10,50,100' });
      const { rollout: record } = await client().startRollout({
        release,
        stages,
        bakeMs: parseDuration(o.bake, '--bake'),
        maxConcurrent: parseInteger(o.maxConcurrent, '--max-concurrent', 1),
        abortFailureRate: parseRate(o.abortFailureRate, '--abort-failure-rate'),
        minDevices: parseInteger(o.minDevices, '--min-devices', 1),
        stepTimeoutMs: parseDuration(o.stepTimeout, '--step-timeout'),
        ...(o.select ? { select: parseTags(o.select, '--select') } : {}),
        exclude: o.exclude ?? [],
        force: Boolean(o.force),
      });
      print(jsonFlag(command), { rollout: record }, () => `started ${describeRollout(record)}\nfollow it with \`meshchain rollout status ${record.id}\``);
    });

  rollout
    .command('list')
    .description('every rollout, newest first')
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, command: Command) => {
      const rollouts = await client().rollouts();
      print(jsonFlag(command), rollouts, () => (rollouts.length === 0 ? 'no rollouts yet; start one with `meshchain rollout start <release>`' : rollouts.map(describeRollout).join('\n')));
    });

  rollout
    .command('status [id]')
    .description('per stage: offered, downloading, installing, installed, healthy, failed, rolled back (default: the newest rollout)')
    .option('--json', 'machine-readable output')
    .action(async (id: string | undefined, _o: unknown, command: Command) => {
      const api = client();
      const target = id ?? (await api.rollouts())[0]?.id;
      if (!target) throw new ControlPlaneError('no rollouts yet', { details: 'start one with `meshchain rollout start <release>`' });
      const view = await api.rollout(target);
      print(jsonFlag(command), view, () => describeRolloutView(view));
    });

  for (const action of ['pause', 'resume', 'abort'] as const) {
    const cmd = rollout
      .command(`${action} <id>`)
      .description(action === 'pause' ? 'offer nothing more and do not advance (a crossed threshold still aborts)' : action === 'resume' ? 'continue a paused rollout' : 'stop for good; boxes already updated keep the release')
      .option('--json', 'machine-readable output');
    if (action === 'abort') cmd.option('--reason <text>', 'recorded with the rollout');
    cmd.action(async (id: string, o: { reason?: string }, command: Command) => {
      const { rollout: record } = await client().rolloutAction(id, action, o.reason);
      print(jsonFlag(command), { rollout: record }, () => describeRollout(record));
    });
  }

  const device = (name: string, description: string, change: (args: string[]) => Parameters<OtaClient['updateDevice']>[1], args = '<node>'): void => {
    rollout
      .command(`${name} ${args}`)
      .description(description)
      .option('--json', 'machine-readable output')
      .action(async (...params: unknown[]) => {
        const command = params.at(-1) as Command;
        const positional = command.args;
        const [nodeId = '', ...rest] = positional;
        const { device: settings } = await client().updateDevice(nodeId, change(rest));
        print(jsonFlag(command), { device: settings }, () => `${settings.nodeId}  pinned ${settings.pinnedRelease ?? '-'}  excluded ${settings.excluded ? 'yes' : 'no'}  tags ${JSON.stringify(settings.tags)}`);
      });
  };
  device('pin', 'keep a device on a release: rollouts of other releases leave it alone, a rollout of this one includes it', ([release = '']) => ({ pinnedRelease: release }), '<node> <release>');
  device('unpin', 'let rollouts choose the device again', () => ({ pinnedRelease: null }));
  device('exclude', 'never offer this device any update', () => ({ excluded: true }));
  device('include', 'undo `rollout exclude`', () => ({ excluded: false }));
  device('tag', 'set a device\'s tags (replacing them) for `rollout start --select`', (pairs) => ({ tags: parseTags(pairs, 'tag') }), '<node> [tag=value...]');
}
