// `meshchain release …`: the fleet operator's side of OTA.
import { Option, type Command } from 'commander';
import { isVersion, isVersionRange, signRelease, type ReleaseManifest } from '@meshchain/protocol';
import { ControlPlaneError } from '../errors.ts';
import { OtaClient } from './client.ts';
import { createReleaseKeyFile, loadReleaseKey } from './release-key.ts';
import type { ReleaseRecord } from './release-store.ts';
import { registerRolloutCommands } from './rollout-cli.ts';

type Print = (json: boolean, value: unknown, human: () => string) => void;

function jsonFlag(command: Command): boolean {
  return Boolean(command.optsWithGlobals<{ json?: boolean }>().json);
}

export function describeRelease(r: ReleaseRecord): string {
  return `${r.id.slice(0, 12)}  ${r.kind.padEnd(6)} ${r.version.padEnd(12)} ${r.compatibility}  ${r.artifact.size} bytes  from ${r.fromVersions.join(' | ')}${r.rollback ? '  ROLLBACK' : ''}  ${new Date(r.registeredAt).toISOString()}`;
}

/** Adds `release keygen|create|list` to the meshchain program. */
export function registerOtaCommands(program: Command, print: Print): void {
  const client = (): OtaClient => {
    const token = process.env.MESHCHAIN_API_TOKEN;
    return new OtaClient(program.opts<{ api: string }>().api, token ? { token } : {});
  };
  registerRolloutCommands(program, client, print);
  const release = program.command('release').description('signed OTA releases: the release key, publishing, listing');

  release
    .command('keygen')
    .description('make a release key (ed25519, mode 0600); boxes trust its public key (MESHNODE_RELEASE_KEYS)')
    .requiredOption('--out <file>', 'where to write the key; an existing file is never overwritten')
    .option('--json', 'machine-readable output')
    .action(async (options: { out: string }, command: Command) => {
      const { publicKey } = await createReleaseKeyFile(options.out);
      print(jsonFlag(command), { path: options.out, publicKey }, () => `release key written to ${options.out}\npublic key ${publicKey}\nKeep the key file offline; configure boxes to trust the public key.`);
    });

  release
    .command('create')
    .description('upload an artifact by its sha256, sign its manifest with the release key and register it')
    .addOption(new Option('--kind <kind>', 'app (the agent) or system (a RAUC bundle)').choices(['app', 'system']).makeOptionMandatory())
    .requiredOption('--version <semver>', 'the version this release installs')
    .requiredOption('--artifact <file>', 'the agent tarball or RAUC bundle')
    .requiredOption('--key <file>', 'release key file (from `meshchain release keygen`)')
    .option('--from <range...>', 'versions it may be installed over (semver ranges or exact)', ['*'])
    .option('--rollback', 'a sanctioned rollback: may install a lower version than the box runs')
    .option('--compatibility <string>', 'hardware/software family', 'meshnode-arm64')
    .option('--url <url>', 'canonical download URL to put in the manifest (optional; boxes may use any mirror)')
    .option('--json', 'machine-readable output')
    .action(async (options: { kind: 'app' | 'system'; version: string; artifact: string; key: string; from: string[]; rollback?: boolean; compatibility: string; url?: string }, command: Command) => {
      if (!isVersion(options.version)) throw new ControlPlaneError(`--version ${options.version} is not a semantic version`, { details: 'e.g. 1.4.0 or 2.0.0-rc.1' });
      const bad = options.from.find((range) => !isVersionRange(range));
      if (bad !== undefined) throw new ControlPlaneError(`--from ${bad} is not a version range`, { details: 'e.g. 1.3.2, ^1.3.0, ">=1.0.0 <1.4.0", *' });
      const signer = await loadReleaseKey(options.key);
      const api = client();
      const artifact = await api.uploadArtifact(options.artifact);
      const json = jsonFlag(command);
      if (!json) process.stderr.write(`artifact ${artifact.sha256.slice(0, 12)}… ${artifact.uploaded ? 'uploaded' : 'already on the control plane'} (${artifact.size} bytes)\n`);
      const manifest: ReleaseManifest = {
        version: options.version,
        kind: options.kind,
        artifact: { sha256: artifact.sha256, size: artifact.size, ...(options.url ? { url: options.url } : {}) },
        fromVersions: options.from,
        rollback: Boolean(options.rollback),
        compatibility: options.compatibility,
        createdAt: Date.now(),
      };
      const { release: record, created } = await api.registerRelease(signRelease(manifest, signer));
      print(json, { release: record, created }, () => `${created ? 'registered' : 'already registered'} ${describeRelease(record)}\nrelease id ${record.id}`);
    });

  release
    .command('list')
    .description('every registered release, newest first')
    .option('--json', 'machine-readable output')
    .action(async (_options: unknown, command: Command) => {
      const releases = await client().releases();
      print(jsonFlag(command), releases, () => (releases.length === 0 ? 'no releases yet; publish one with `meshchain release create`' : releases.map(describeRelease).join('\n')));
    });
}
