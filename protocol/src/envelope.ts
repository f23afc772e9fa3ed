import { z } from 'zod';
import { verifySignature, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, type Signer } from './crypto/ed25519.ts';
import { canonicalBytes, fromBase64Url, toBase64Url } from './encoding.ts';
import { MalformedMessageError, ReplayError, SchemaError, SignatureError, TopicError } from './errors.ts';
import { deriveId, newMessageId } from './ids.ts';
import { LIMITS, timestampSchema } from './schemas.ts';
import { parseTopic, TOPICS, type BodyOf, type MessageKind } from './topics.ts';
import type { ReplayGuard } from './replay.ts';

export const PROTOCOL_VERSION = 1;

/**
 * A signed message as it travels on the wire (JSON). The signature covers
 * a domain-separation prefix naming the protocol version and message kind,
 * followed by the canonical (RFC 8785) encoding of every other field, so a
 * signature for one kind can never be replayed as another.
 */
export interface Envelope<K extends MessageKind = MessageKind> {
  v: typeof PROTOCOL_VERSION;
  kind: K;
  id: string;
  ts: number;
  /** Sender id, derived from `pub`. */
  from: string;
  /** Sender's ed25519 public key, base64url: every message verifies on its own. */
  pub: string;
  body: BodyOf<K>;
  sig: string;
}

const envelopeShape = z.object({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.string().max(32),
  id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  ts: timestampSchema,
  from: z.string().max(64),
  pub: z.string().length(43),
  body: z.unknown(),
  sig: z.string().length(86),
});

export function domainPrefix(kind: string): string {
  return `meshchain/v${PROTOCOL_VERSION}/${kind}\n`;
}

function signingBytes(envelope: Omit<Envelope, 'sig'> | z.infer<typeof envelopeShape>): Uint8Array {
  const { v, kind, id, ts, from, pub, body } = envelope;
  const prefix = new TextEncoder().encode(domainPrefix(kind));
  const payload = canonicalBytes({ v, kind, id, ts, from, pub, body });
  const out = new Uint8Array(prefix.length + payload.length);
  out.set(prefix);
  out.set(payload, prefix.length);
  return out;
}

export interface SealOptions {
  now?: number;
  id?: string;
}

/** A signer's id and encoded key per role, derived once per key: a control plane seals thousands of messages a second. */
const senders = new WeakMap<Uint8Array, Partial<Record<'node' | 'cp', { from: string; pub: string }>>>();

function senderOf(publicKey: Uint8Array, role: 'node' | 'cp'): { from: string; pub: string } {
  let byRole = senders.get(publicKey);
  if (!byRole) senders.set(publicKey, (byRole = {}));
  return (byRole[role] ??= { from: deriveId(publicKey, role), pub: toBase64Url(publicKey) });
}

/** Signs a message body for its kind. Nodes seal `up` kinds; the control plane seals the rest. */
export function sealMessage<K extends MessageKind>(
  kind: K,
  body: BodyOf<K>,
  signer: Signer,
  options: SealOptions = {},
): Envelope<K> {
  const ts = options.now ?? Date.now();
  const role = TOPICS[kind].direction === 'up' ? 'node' : 'cp';
  const sender = senderOf(signer.publicKey, role);
  const unsigned = {
    v: PROTOCOL_VERSION,
    kind,
    id: options.id ?? newMessageId(ts),
    ts,
    from: sender.from,
    pub: sender.pub,
    body,
  } as const;
  return { ...unsigned, sig: toBase64Url(signer.sign(signingBytes(unsigned))) };
}

export function encodeMessage(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(envelope));
}

export interface OpenOptions {
  /** Control-plane ids whose messages this receiver accepts on `down` and `broadcast` topics. */
  trustedControlPlanes: ReadonlySet<string>;
  now?: number;
  /** Largest accepted |now − ts| for event messages; retained state messages are exempt. */
  maxSkewMs?: number;
  /** Refuses event messages seen before. */
  replay?: ReplayGuard;
}

export type OpenedMessage = {
  [K in MessageKind]: { kind: K; nodeId: string | null; envelope: Envelope<K>; body: BodyOf<K> };
}[MessageKind];

/**
 * Checks a message received on `topic` in this order: size, topic, JSON shape,
 * kind ↔ topic, signature, sender ↔ key ↔ topic, freshness, replay, body schema.
 * Throws a ProtocolError subclass naming the first failed check.
 */
export function openMessage(topic: string, payload: Uint8Array, options: OpenOptions): OpenedMessage {
  if (payload.length > LIMITS.maxPayloadBytes) {
    throw new MalformedMessageError(`payload of ${payload.length} bytes exceeds ${LIMITS.maxPayloadBytes}`);
  }
  const parsed = parseTopic(topic);
  if (!parsed) throw new TopicError(`"${truncate(topic)}" is not a MeshChain topic`);

  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch (cause) {
    throw new MalformedMessageError('payload is not JSON', { cause });
  }
  const shape = envelopeShape.safeParse(json);
  if (!shape.success) throw new MalformedMessageError('not a MeshChain envelope', { details: zodSummary(shape.error) });
  const raw = shape.data;
  if (raw.kind !== parsed.kind) {
    throw new TopicError(`a "${truncate(raw.kind)}" message cannot travel on the ${parsed.kind} topic`);
  }

  const publicKey = fromBase64Url(raw.pub, PUBLIC_KEY_LENGTH);
  const signature = fromBase64Url(raw.sig, SIGNATURE_LENGTH);
  if (!verifySignature(publicKey, signingBytes(raw), signature)) {
    throw new SignatureError(`bad signature on ${raw.kind} ${raw.id} from ${truncate(raw.from)}`);
  }

  const spec = TOPICS[parsed.kind];
  if (spec.direction === 'up') {
    if (raw.from !== parsed.nodeId || deriveId(publicKey, 'node') !== raw.from) {
      throw new SignatureError(`${raw.kind} on ${parsed.nodeId}'s topic was signed by ${truncate(raw.from)}`);
    }
  } else if (deriveId(publicKey, 'cp') !== raw.from || !options.trustedControlPlanes.has(raw.from)) {
    throw new SignatureError(`${raw.kind} was not signed by a trusted control plane (signer ${truncate(raw.from)})`);
  }

  if (!spec.retain) {
    const now = options.now ?? Date.now();
    if (options.maxSkewMs !== undefined && Math.abs(now - raw.ts) > options.maxSkewMs) {
      throw new ReplayError(`${raw.kind} ${raw.id} is ${Math.round((now - raw.ts) / 1000)} s off the receiver's clock`);
    }
    if (options.replay && !options.replay.accept(raw.id, raw.ts, now)) {
      throw new ReplayError(`${raw.kind} ${raw.id} was already received`);
    }
  }

  const body = spec.schema.safeParse(raw.body);
  if (!body.success) {
    throw new SchemaError(`invalid ${raw.kind} body`, { details: zodSummary(body.error) });
  }
  const envelope = { ...raw, kind: parsed.kind, body: body.data } as Envelope;
  return { kind: parsed.kind, nodeId: parsed.nodeId, envelope, body: body.data } as OpenedMessage;
}

function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function zodSummary(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
