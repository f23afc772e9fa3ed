import { releaseDigest, ReleaseError, verifyRelease, type ReleaseKind, type SignedRelease } from '@meshchain/protocol';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import type { ArtifactStore } from './artifact-store.ts';

export interface ReleaseRecord {
  /** sha256 of the canonical manifest. */
  id: string;
  kind: ReleaseKind;
  version: string;
  compatibility: string;
  artifact: { sha256: string; size: number };
  rollback: boolean;
  fromVersions: string[];
  publisherKey: string;
  createdAt: number;
  registeredAt: number;
}

interface Row {
  id: string;
  kind: ReleaseKind;
  version: string;
  compatibility: string;
  artifact_sha256: string;
  artifact_size: number;
  rollback: number;
  from_versions: string;
  publisher_key: string;
  signed: string;
  created_at: number;
  registered_at: number;
}

function toRecord(row: Row): ReleaseRecord {
  return {
    id: row.id,
    kind: row.kind,
    version: row.version,
    compatibility: row.compatibility,
    artifact: { sha256: row.artifact_sha256, size: row.artifact_size },
    rollback: row.rollback === 1,
    fromVersions: JSON.parse(row.from_versions) as string[],
    publisherKey: row.publisher_key,
    createdAt: row.created_at,
    registeredAt: row.registered_at,
  };
}

/**
 * Signed release manifests. The control plane does not hold the release
 * key and is not the trust anchor (the boxes are: they check the signer
 * against their configured release keys); it refuses what is malformed,
 * badly signed, or names an artifact it does not have with that size.
 */
export class ReleaseStore {
  readonly #db: Db;
  readonly #artifacts: ArtifactStore;

  constructor(db: Db, artifacts: ArtifactStore) {
    this.#db = db;
    this.#artifacts = artifacts;
  }

  /** Registers a signed release. Idempotent for the same manifest; a different one for the same kind/compatibility/version conflicts. */
  registerRelease(signed: unknown, now = Date.now()): { release: ReleaseRecord; created: boolean } {
    let verified: SignedRelease;
    try {
      const publicKey = (signed as { publicKey?: unknown } | null)?.publicKey;
      verified = verifyRelease(signed, typeof publicKey === 'string' ? [publicKey] : []);
    } catch (error) {
      if (error instanceof ReleaseError) throw new InvalidRequestError(`release refused: ${error.shortMessage}`, { details: error.details ?? error.reason });
      throw error;
    }
    const { manifest } = verified;
    const artifact = this.#artifacts.find(manifest.artifact.sha256);
    if (!artifact) throw new InvalidRequestError(`release names artifact ${manifest.artifact.sha256}, which is not uploaded`, { details: 'PUT /v1/artifacts/<sha256> first' });
    if (artifact.size !== manifest.artifact.size) {
      throw new InvalidRequestError(`release says the artifact is ${manifest.artifact.size} bytes; the stored artifact is ${artifact.size}`);
    }
    const id = releaseDigest(manifest);
    return this.#db.transaction(() => {
      const existing = this.findRelease(id);
      if (existing) return { release: existing, created: false };
      const clash = this.#db
        .prepare('SELECT id FROM releases WHERE kind = ? AND compatibility = ? AND version = ?')
        .get(manifest.kind, manifest.compatibility, manifest.version) as { id: string } | undefined;
      if (clash) throw new ConflictError(`${manifest.kind} release ${manifest.version} for ${manifest.compatibility} already exists with another manifest (${clash.id})`, { details: 'publish a new version instead' });
      this.#db
        .prepare(
          `INSERT INTO releases (id, kind, version, compatibility, artifact_sha256, artifact_size, rollback, from_versions, publisher_key, signed, created_at, registered_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, manifest.kind, manifest.version, manifest.compatibility, manifest.artifact.sha256, manifest.artifact.size, manifest.rollback ? 1 : 0, JSON.stringify(manifest.fromVersions), verified.publicKey, JSON.stringify(verified), manifest.createdAt, now);
      return { release: this.getRelease(id), created: true };
    })();
  }

  findRelease(id: string): ReleaseRecord | null {
    const row = this.#db.prepare('SELECT * FROM releases WHERE id = ?').get(id) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  getRelease(id: string): ReleaseRecord {
    const release = this.findRelease(id);
    if (!release) throw new NotFoundError(`release ${id}`, { details: 'list releases with `meshchain release list`' });
    return release;
  }

  /** The signed manifest exactly as registered, for sending to boxes. */
  signedRelease(id: string): SignedRelease {
    const row = this.#db.prepare('SELECT signed FROM releases WHERE id = ?').get(id) as { signed: string } | undefined;
    if (!row) throw new NotFoundError(`release ${id}`);
    return JSON.parse(row.signed) as SignedRelease;
  }

  /** Newest first. */
  listReleases(limit = 200): ReleaseRecord[] {
    return (this.#db.prepare('SELECT * FROM releases ORDER BY registered_at DESC, id LIMIT ?').all(limit) as Row[]).map(toRecord);
  }
}
