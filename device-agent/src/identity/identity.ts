import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  deriveNodeId,
  fromBase64Url,
  generateSeed,
  NodeCryptoSigner,
  SEED_LENGTH,
  toBase64Url,
  type Signer,
} from '@meshchain/protocol';
import { IdentityError } from '../errors.ts';

export interface NodeIdentity {
  nodeId: string;
  signer: Signer;
  publicKey: string;
  path: string;
}

/**
 * The node's ed25519 identity, made on first start and kept with mode 0600.
 * The node id is derived from the public key, so it proves itself.
 */
export async function loadOrCreateIdentity(path: string): Promise<NodeIdentity & { created: boolean }> {
  const existing = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new IdentityError(`cannot read identity ${path}`, { cause: error, details: error.code });
  });
  let seed: Uint8Array;
  let created = false;
  if (existing === null) {
    seed = generateSeed();
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const signer = new NodeCryptoSigner(seed);
    const content = { version: 1, nodeId: deriveNodeId(signer.publicKey), publicKey: toBase64Url(signer.publicKey), seed: toBase64Url(seed) };
    // 'wx': two agents starting at once must not each write a different key.
    await writeFile(path, JSON.stringify(content, null, 2) + '\n', { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    created = true;
    if ((await readFile(path, 'utf8')) !== JSON.stringify(content, null, 2) + '\n') return { ...(await loadOrCreateIdentity(path)), created: false };
    await chmod(path, 0o600);
  } else {
    const mode = (await stat(path)).mode & 0o777;
    if (mode & 0o077) {
      throw new IdentityError(`identity ${path} is readable by others (mode ${mode.toString(8)})`, { details: `run: chmod 600 ${path}` });
    }
    try {
      const parsed = JSON.parse(existing) as { version?: unknown; seed?: unknown };
      if (parsed.version !== 1 || typeof parsed.seed !== 'string') throw new Error('unexpected format');
      seed = fromBase64Url(parsed.seed, SEED_LENGTH);
    } catch (cause) {
      throw new IdentityError(`identity ${path} is corrupt`, {
        cause,
        details: 'restore it from a backup, or remove it to make a new identity (the node gets a new id and loses its reputation)',
      });
    }
  }
  const signer = new NodeCryptoSigner(seed);
  return { nodeId: deriveNodeId(signer.publicKey), signer, publicKey: toBase64Url(signer.publicKey), path, created };
}
