import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { checkReleaseApplies, ReleaseError, verifyRelease, type ReleaseKind, type ReleaseManifest } from '@meshchain/protocol';
import { AgentError } from '../errors.ts';

export type UpdateRefusal =
  | 'unsigned'
  | 'malformed'
  | 'untrusted-key'
  | 'bad-signature'
  | 'downgrade'
  | 'same-version'
  | 'not-from-version'
  | 'incompatible'
  | 'wrong-kind'
  | 'size-mismatch'
  | 'hash-mismatch'
  | 'missing-artifact';

/** An update the box will not install. `reason` is a stable code for reports; nothing was changed. */
export class UpdateRefusedError extends AgentError {
  override name = 'UpdateRefusedError';
  readonly reason: UpdateRefusal;

  constructor(reason: UpdateRefusal, shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(`update refused (${reason}): ${shortMessage}`, options);
    this.reason = reason;
  }
}

export interface VerifyUpdateParameters {
  /** The signed release as received: `{ manifest, publicKey, signature }`. */
  signed: unknown;
  /** Release public keys (base64url) this box trusts. */
  trustedKeys: readonly string[];
  /** What the box runs now, for this kind. */
  currentVersion: string;
  /** This box's compatibility string, e.g. `meshnode-arm64`. */
  compatibility: string;
  kind: ReleaseKind;
  /** The downloaded artifact; checked for size, then sha256. */
  artifactPath: string;
}

/**
 * Every check before anything is installed, cheapest first: signature by a
 * trusted release key, the right kind and hardware, no unsanctioned
 * downgrade, an allowed source version, then the artifact's size and hash.
 * Pure reads: it changes nothing on the box. Throws `UpdateRefusedError`.
 */
export async function verifyUpdate(params: VerifyUpdateParameters): Promise<ReleaseManifest> {
  const manifest = verifyManifest(params);
  const size = await stat(params.artifactPath).then(
    (s) => s.size,
    (cause: unknown) => {
      throw new UpdateRefusedError('missing-artifact', `artifact ${params.artifactPath} cannot be read`, { cause });
    },
  );
  if (size !== manifest.artifact.size) {
    throw new UpdateRefusedError('size-mismatch', `artifact is ${size} bytes; the signed manifest says ${manifest.artifact.size}`);
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(params.artifactPath)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  if (sha256 !== manifest.artifact.sha256) {
    throw new UpdateRefusedError('hash-mismatch', `artifact hashes to ${sha256}; the signed manifest says ${manifest.artifact.sha256}`);
  }
  return manifest;
}

/** The manifest checks alone (before downloading anything). */
export function verifyManifest(params: Omit<VerifyUpdateParameters, 'artifactPath'>): ReleaseManifest {
  const raw = params.signed as { signature?: unknown; publicKey?: unknown } | null;
  if (raw === null || typeof raw !== 'object' || raw.signature === undefined || raw.publicKey === undefined) {
    throw new UpdateRefusedError('unsigned', 'the release carries no signature');
  }
  try {
    const { manifest } = verifyRelease(params.signed, params.trustedKeys);
    checkReleaseApplies(manifest, { currentVersion: params.currentVersion, compatibility: params.compatibility, kind: params.kind });
    return manifest;
  } catch (error) {
    if (error instanceof ReleaseError) throw new UpdateRefusedError(error.reason, error.shortMessage, { ...(error.details ? { details: error.details } : {}), cause: error });
    throw error;
  }
}
