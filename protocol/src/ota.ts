import { z } from 'zod';
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, verifySignature, type Signer } from './crypto/ed25519.ts';
import { canonicalBytes, fromBase64Url, sha256Hex, toBase64Url } from './encoding.ts';
import { ProtocolError, type ProtocolErrorOptions } from './errors.ts';
import { entityIdSchema, sha256Schema, timestampSchema } from './schemas.ts';

/**
 * OTA releases: a manifest signed with the fleet operator's release key (an
 * ed25519 key apart from the control plane's). The signature covers the
 * domain prefix "meshchain/v1/release\n" followed by the canonical JSON of the
 * manifest, so no other MeshChain signature can pass for a release.
 */
export const RELEASE_DOMAIN = 'meshchain/v1/release\n';

const SEMVER_PATTERN = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export const releaseVersionSchema = z.string().max(128).regex(SEMVER_PATTERN, 'not a semantic version');
export const releaseKindSchema = z.enum(['app', 'system']);
export type ReleaseKind = z.infer<typeof releaseKindSchema>;

export const releaseManifestSchema = z.object({
  version: releaseVersionSchema,
  kind: releaseKindSchema,
  artifact: z.object({
    sha256: sha256Schema,
    size: z.number().int().positive(),
    /** Optional canonical location; any mirror serving by hash works too. */
    url: z.string().url().max(2048).optional(),
  }),
  /** Versions this release may be installed over: semver ranges or exact versions; `*` for any. */
  fromVersions: z
    .array(
      z
        .string()
        .min(1)
        .max(128)
        .refine((range) => parseRange(range) !== null, 'not a version range'),
    )
    .min(1)
    .max(64),
  /** A sanctioned rollback: only such a release may install a lower version. */
  rollback: z.boolean(),
  /** Hardware/software family the artifact is built for, e.g. `meshnode-arm64`. */
  compatibility: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'not a compatibility string'),
  createdAt: timestampSchema,
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

/** A manifest with its signature, as stored by the control plane and sent to nodes. */
export const signedReleaseSchema = z.object({
  manifest: z.unknown(),
  /** The release key's ed25519 public key, base64url. */
  publicKey: z.string().length(43),
  signature: z.string().length(86),
});
export interface SignedRelease {
  manifest: ReleaseManifest;
  publicKey: string;
  signature: string;
}

// ---- update offers and status reports (topic kinds `updateOffer`, `updateStatus`) ----

/**
 * The control plane offers one node a release (down). The release travels
 * signed: the box verifies the release key's signature itself, so the control
 * plane is trusted to choose *when*, never *what*.
 */
export const updateOfferBodySchema = z.object({
  /** The rollout this offer belongs to; every report about it names it. */
  rolloutId: entityIdSchema,
  /** sha256 of the canonical manifest (the release id). */
  releaseId: sha256Schema,
  release: signedReleaseSchema,
  /** Where to download the artifact (byte ranges supported); its hash and size are in the signed manifest. */
  artifactUrl: z.string().url().max(2048),
  /** The operator's decision to interrupt running work instead of waiting for it. */
  force: z.boolean(),
});
export type UpdateOfferBody = z.infer<typeof updateOfferBodySchema>;

/** Where one box is with one update, as it reports it. `installing` includes draining, unpacking and the switch. */
export const UPDATE_STATES = ['offered', 'downloading', 'installing', 'installed', 'healthy', 'failed', 'rolled_back'] as const;
export const updateStateSchema = z.enum(UPDATE_STATES);
export type UpdateState = z.infer<typeof updateStateSchema>;

/** A node reports each step of an update (up). Reports may repeat; receivers keep them idempotent. */
export const updateStatusBodySchema = z.object({
  /** Null for an update that was not offered by a rollout (e.g. a recovery found at start). */
  rolloutId: entityIdSchema.nullable(),
  releaseId: sha256Schema.nullable(),
  state: updateStateSchema,
  /** The release's version (what the box is updating to). */
  version: releaseVersionSchema.nullable(),
  /** What the box ran before the update. */
  fromVersion: releaseVersionSchema.nullable(),
  /** What the box runs as it reports. */
  currentVersion: releaseVersionSchema,
  kind: releaseKindSchema,
  /** The box's compatibility string, e.g. `meshnode-arm64`. */
  compatibility: z.string().max(64),
  /** A stable code for failures and rollbacks (e.g. `hash-mismatch`, `unhealthy`). */
  reason: z.string().max(64).nullable(),
  /** Words for people. */
  detail: z.string().max(512).nullable(),
  /** Artifact bytes received over the network for this update so far. */
  bytes: z.number().int().nonnegative(),
  at: timestampSchema,
});
export type UpdateStatusBody = z.infer<typeof updateStatusBodySchema>;

export type ReleaseRefusal =
  | 'malformed'
  | 'untrusted-key'
  | 'bad-signature'
  | 'same-version'
  | 'downgrade'
  | 'not-from-version'
  | 'incompatible'
  | 'wrong-kind';

/** A release was refused; `reason` is a stable code, the message says why in words. */
export class ReleaseError extends ProtocolError {
  override name = 'ReleaseError';
  readonly reason: ReleaseRefusal;

  constructor(reason: ReleaseRefusal, shortMessage: string, options: ProtocolErrorOptions = {}) {
    super(shortMessage, options);
    this.reason = reason;
  }
}

export function releaseSigningBytes(manifest: ReleaseManifest): Uint8Array {
  const prefix = new TextEncoder().encode(RELEASE_DOMAIN);
  const body = canonicalBytes(manifest);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix);
  out.set(body, prefix.length);
  return out;
}

/** The release's identity: sha256 of its canonical manifest (hex). */
export function releaseDigest(manifest: ReleaseManifest): string {
  return sha256Hex(canonicalBytes(manifest));
}

/** Validates and signs a manifest with the release key. */
export function signRelease(manifest: ReleaseManifest, signer: Signer): SignedRelease {
  const parsed = releaseManifestSchema.safeParse(manifest);
  if (!parsed.success) {
    throw new ReleaseError('malformed', 'release manifest is invalid', { details: issues(parsed.error) });
  }
  return {
    manifest: parsed.data,
    publicKey: toBase64Url(signer.publicKey),
    signature: toBase64Url(signer.sign(releaseSigningBytes(parsed.data))),
  };
}

/**
 * Checks shape, that the signer is one of `trustedKeys` (base64url public
 * keys) and the signature. Returns the parsed manifest; throws `ReleaseError`.
 */
export function verifyRelease(signed: unknown, trustedKeys: readonly string[]): SignedRelease {
  const outer = signedReleaseSchema.safeParse(signed);
  if (!outer.success) {
    throw new ReleaseError('malformed', 'release is not signed (missing or malformed publicKey/signature)', { details: issues(outer.error) });
  }
  const manifest = releaseManifestSchema.safeParse(outer.data.manifest);
  if (!manifest.success) {
    throw new ReleaseError('malformed', 'release manifest is invalid', { details: issues(manifest.error) });
  }
  if (!trustedKeys.includes(outer.data.publicKey)) {
    throw new ReleaseError('untrusted-key', `release is signed by ${outer.data.publicKey}, which is not a trusted release key`);
  }
  let ok = false;
  try {
    ok = verifySignature(
      fromBase64Url(outer.data.publicKey, PUBLIC_KEY_LENGTH),
      releaseSigningBytes(manifest.data),
      fromBase64Url(outer.data.signature, SIGNATURE_LENGTH),
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new ReleaseError('bad-signature', `release ${manifest.data.kind} ${manifest.data.version} has a bad signature (tampered or signed by another key)`);
  return { manifest: manifest.data, publicKey: outer.data.publicKey, signature: outer.data.signature };
}

/**
 * May `manifest` be installed over `currentVersion` on a box of
 * `compatibility`? Throws `ReleaseError` with the reason when not.
 */
export function checkReleaseApplies(manifest: ReleaseManifest, target: { currentVersion: string; compatibility: string; kind?: ReleaseKind }): void {
  if (target.kind && manifest.kind !== target.kind) {
    throw new ReleaseError('wrong-kind', `release is a ${manifest.kind} update, expected ${target.kind}`);
  }
  if (manifest.compatibility !== target.compatibility) {
    throw new ReleaseError('incompatible', `release is built for ${manifest.compatibility}, this box is ${target.compatibility}`);
  }
  const order = compareVersions(manifest.version, target.currentVersion);
  if (order === 0) throw new ReleaseError('same-version', `version ${manifest.version} is already installed`);
  if (order < 0 && !manifest.rollback) {
    throw new ReleaseError('downgrade', `release ${manifest.version} is older than the installed ${target.currentVersion} and is not signed as a rollback`);
  }
  if (!manifest.fromVersions.some((range) => satisfiesVersion(target.currentVersion, range))) {
    throw new ReleaseError('not-from-version', `release ${manifest.version} may not be installed over ${target.currentVersion} (from: ${manifest.fromVersions.join(', ')})`);
  }
}

// ---- semantic versions (semver 2.0.0 precedence) and ranges -----------------

interface Version {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
}

export function isVersion(text: string): boolean {
  return SEMVER_PATTERN.test(text);
}

function parseVersion(text: string): Version | null {
  const m = SEMVER_PATTERN.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ? m[4].split('.') : [] };
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return b.length - a.length === 0 ? 0 : a.length === 0 ? 1 : -1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(x) - Number(y) < 0 ? -1 : 1;
    if (xn) return -1;
    if (yn) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

function compareParsed(a: Version, b: Version): number {
  for (const key of ['major', 'minor', 'patch'] as const) {
    if (a[key] !== b[key]) return a[key] < b[key] ? -1 : 1;
  }
  return comparePre(a.pre, b.pre);
}

/** -1, 0 or 1 by semver precedence (build metadata ignored). Throws on a non-version. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) throw new ReleaseError('malformed', `not a semantic version: ${x ? b : a}`);
  return compareParsed(x, y);
}

type Comparator = { op: '<' | '<=' | '>' | '>=' | '='; version: Version };

// A partial version: `1`, `1.2`, `1.2.3`, with `x`/`*` wildcards.
const PARTIAL = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

function comparatorsOf(term: string): Comparator[] | null {
  const op = /^(<=|>=|<|>|=|\^|~)?\s*(.*)$/.exec(term);
  if (!op) return null;
  const operator = op[1] ?? '';
  const m = PARTIAL.exec(op[2] ?? '');
  if (!m) return null;
  const wild = (s: string | undefined): boolean => s === undefined || /^[xX*]$/.test(s);
  const [major, minor, patch] = [m[1], m[2], m[3]];
  const pre = m[4] ? m[4].split('.') : [];
  const v = (a: number, b: number, c: number, p: string[] = []): Version => ({ major: a, minor: b, patch: c, pre: p });
  if (wild(major)) return operator === '<' || operator === '>' ? null : [];
  const M = Number(major);
  const mi = wild(minor) ? null : Number(minor);
  const pa = wild(patch) ? null : Number(patch);
  const full = mi !== null && pa !== null;
  if (operator === '^') {
    const lower = v(M, mi ?? 0, pa ?? 0, pre);
    const upper = M > 0 || mi === null ? v(M + 1, 0, 0) : mi > 0 || pa === null ? v(0, mi + 1, 0) : v(0, 0, pa + 1);
    return [{ op: '>=', version: lower }, { op: '<', version: upper }];
  }
  if (operator === '~') {
    const lower = v(M, mi ?? 0, pa ?? 0, pre);
    const upper = mi === null ? v(M + 1, 0, 0) : v(M, mi + 1, 0);
    return [{ op: '>=', version: lower }, { op: '<', version: upper }];
  }
  if (full) return [{ op: operator === '' ? '=' : (operator as Comparator['op']), version: v(M, mi, pa, pre) }];
  // A partial version is the range it covers: 1.2 = >=1.2.0 <1.3.0.
  const lower = v(M, mi ?? 0, 0);
  const upper = mi === null ? v(M + 1, 0, 0) : v(M, mi + 1, 0);
  switch (operator) {
    case '':
    case '=':
      return [{ op: '>=', version: lower }, { op: '<', version: upper }];
    case '>=':
      return [{ op: '>=', version: lower }];
    case '<':
      return [{ op: '<', version: lower }];
    case '>':
      return [{ op: '>=', version: upper }];
    case '<=':
      return [{ op: '<', version: upper }];
    default:
      return null;
  }
}

/** Parses `1.2.3`, `>=1.0.0 <2.0.0`, `^1.2`, `~1.2.3`, `1.x`, `*`, and `a || b`. Null when malformed. */
function parseRange(range: string): Comparator[][] | null {
  const alternatives: Comparator[][] = [];
  for (const alternative of range.split('||')) {
    const terms = alternative.trim().replace(/(<=|>=|<|>|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    if (terms.length === 0) return null;
    const set: Comparator[] = [];
    for (const term of terms) {
      const comparators = comparatorsOf(term);
      if (!comparators) return null;
      set.push(...comparators);
    }
    alternatives.push(set);
  }
  return alternatives;
}

export function isVersionRange(range: string): boolean {
  return parseRange(range) !== null;
}

/** Does `version` satisfy `range`? Comparison by precedence; a malformed version or range never does. */
export function satisfiesVersion(version: string, range: string): boolean {
  const v = parseVersion(version);
  const alternatives = parseRange(range);
  if (!v || !alternatives) return false;
  return alternatives.some((set) =>
    set.every(({ op, version: bound }) => {
      const c = compareParsed(v, bound);
      switch (op) {
        case '<':
          return c < 0;
        case '<=':
          return c <= 0;
        case '>':
          return c > 0;
        case '>=':
          return c >= 0;
        case '=':
          return c === 0;
      }
    }),
  );
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
