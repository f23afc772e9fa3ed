import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fromBase64Url, generateSeed, NodeCryptoSigner, SEED_LENGTH, toBase64Url } from '@meshchain/protocol';
import { ConfigError } from '../errors.ts';

/**
 * The fleet operator's release key: `{ version: 1, role: "release", seed,
 * publicKey }` with mode 0600. It is not the control plane's key and does
 * not live in its data directory: keep it offline, on the machine that signs.
 */
export async function createReleaseKeyFile(path: string): Promise<{ publicKey: string }> {
  const seed = generateSeed();
  const signer = new NodeCryptoSigner(seed);
  const publicKey = toBase64Url(signer.publicKey);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, JSON.stringify({ version: 1, role: 'release', seed: toBase64Url(seed), publicKey }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConfigError(`release key ${path} already exists`, { details: 'refusing to overwrite a release key; choose another --out', cause });
    }
    throw cause;
  }
  await chmod(path, 0o600);
  return { publicKey };
}

export async function loadReleaseKey(path: string): Promise<NodeCryptoSigner> {
  const text = await readFile(path, 'utf8').catch((cause: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot read release key ${path}`, { details: cause.code === 'ENOENT' ? 'make one with `meshchain release keygen --out <file>`' : cause.message, cause });
  });
  const mode = (await stat(path)).mode & 0o777;
  if (mode & 0o077) throw new ConfigError(`release key ${path} is readable by others (mode ${mode.toString(8)})`, { details: `run: chmod 600 ${path}` });
  try {
    const parsed = JSON.parse(text) as { version?: unknown; role?: unknown; seed?: unknown };
    if (parsed.version !== 1 || parsed.role !== 'release' || typeof parsed.seed !== 'string') throw new Error('not a release key file');
    return new NodeCryptoSigner(fromBase64Url(parsed.seed, SEED_LENGTH));
  } catch (cause) {
    throw new ConfigError(`release key ${path} is corrupt or not a release key`, { cause, details: 'a release key file is made by `meshchain release keygen`' });
  }
}
