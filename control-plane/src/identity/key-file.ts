import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { deriveId, fromBase64Url, generateSeed, NodeCryptoSigner, toBase64Url, SEED_LENGTH } from '@meshchain/protocol';
import { ConfigError } from '../errors.ts';

/**
 * The control plane's signing key: a JSON file with the ed25519 seed,
 * created on first start with mode 0600. Refused when others can read it.
 */
export async function loadOrCreateControlPlaneKey(path: string): Promise<{ signer: NodeCryptoSigner; id: string; created: boolean }> {
  let created = false;
  let seed: Uint8Array;
  const existing = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (existing === null) {
    seed = generateSeed();
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, JSON.stringify({ version: 1, role: 'cp', seed: toBase64Url(seed) }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    created = true;
  } else {
    const mode = (await stat(path)).mode & 0o777;
    if (mode & 0o077) {
      throw new ConfigError(`control-plane key ${path} is readable by others (mode ${mode.toString(8)})`, { details: `run: chmod 600 ${path}` });
    }
    try {
      const parsed = JSON.parse(existing) as { version?: number; seed?: string };
      if (parsed.version !== 1 || typeof parsed.seed !== 'string') throw new Error('unexpected format');
      seed = fromBase64Url(parsed.seed, SEED_LENGTH);
    } catch (cause) {
      throw new ConfigError(`control-plane key ${path} is corrupt`, { cause, details: 'restore it from a backup; a new key means a new control-plane id that nodes do not trust' });
    }
  }
  const signer = new NodeCryptoSigner(seed);
  return { signer, id: deriveId(signer.publicKey, 'cp'), created };
}
