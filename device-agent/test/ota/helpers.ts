import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateSeed, NodeCryptoSigner, sha256Hex, signRelease, toBase64Url, type ReleaseManifest, type SignedRelease } from '@meshchain/protocol';

export const COMPAT = 'meshnode-arm64';

export interface OtaFixture {
  dir: string;
  key: NodeCryptoSigner;
  trustedKeys: string[];
  /** Builds a real gzipped tarball of a fake agent release and signs its manifest. */
  release(version: string, overrides?: Partial<ReleaseManifest>): Promise<{ signed: SignedRelease; artifactPath: string }>;
  cleanup(): Promise<void>;
}

export async function otaFixture(): Promise<OtaFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-ota-'));
  const key = new NodeCryptoSigner(generateSeed());
  return {
    dir,
    key,
    trustedKeys: [toBase64Url(key.publicKey)],
    async release(version, overrides = {}) {
      const src = join(dir, `src-${version}`);
      await mkdir(join(src, 'bin'), { recursive: true });
      await writeFile(join(src, 'VERSION'), `${version}\n`);
      await writeFile(join(src, 'bin', 'meshnode.js'), `console.log(${JSON.stringify(version)});\n`);
      const artifactPath = join(dir, `agent-${version}.tar.gz`);
      await promisify(execFile)('tar', ['-czf', artifactPath, '-C', src, '.']);
      const bytes = await readFile(artifactPath);
      const manifest: ReleaseManifest = {
        version,
        kind: 'app',
        artifact: { sha256: sha256Hex(bytes), size: bytes.length },
        fromVersions: ['*'],
        rollback: false,
        compatibility: COMPAT,
        createdAt: 1_700_000_000_000,
        ...overrides,
      };
      return { signed: signRelease(manifest, key), artifactPath };
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every path under `root` with a symlink's target or a file's content: equal snapshots mean nothing changed. */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(path: string, rel: string): Promise<void> {
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      const full = join(path, entry.name);
      const name = `${rel}${entry.name}`;
      if (entry.isSymbolicLink()) out[name] = `-> ${await readlink(full)}`;
      else if (entry.isDirectory()) {
        out[name] = 'dir';
        await walk(full, `${name}/`);
      } else out[name] = await readFile(full, 'utf8');
    }
  }
  await walk(root, '');
  return out;
}

/** A promise with its resolve function, to drive a step from the test. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
