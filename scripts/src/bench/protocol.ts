/**
 * protocol: the per-message cost of the wire contract. Sealing (canonical
 * JSON + ed25519 sign + JSON encode) and opening (JSON parse + envelope shape
 * + canonical JSON + verify + body schema) of the two busiest message kinds,
 * the two ed25519 implementations, and canonical JSON on its own.
 */
import {
  canonicalBytes,
  canonicalHash,
  canonicalJson,
  createAuthToken,
  deriveId,
  encodeMessage,
  generateSeed,
  NobleSigner,
  NodeCryptoSigner,
  openMessage,
  resultBodySchema,
  sealMessage,
  topicFor,
  verifyAuthToken,
  verifySignature,
  verifySignatureNoble,
  type Envelope,
  type MessageKind,
} from '@meshchain/protocol';
import { measureRate, type BenchOptions, type Benchmark, type RateOptions, type Reporter } from './harness.ts';
import { DEMO_RESULT, LARGE_RESULT, sampleAssignmentBody, sampleResultBody, type ResultShape } from './samples.ts';

/** More keys than protocol's public-key cache holds (10,000), so every lookup misses. */
const COLD_KEYS = 12_000;

function describeShape(shape: ResultShape): string {
  return `${shape.outputs}×${shape.tokens} tokens`;
}

/** The bytes a signature covers, rebuilt the way protocol/src/envelope.ts does (domain prefix + canonical JSON). */
function signingBytesOf(envelope: Envelope): Uint8Array {
  const { sig: _sig, ...unsigned } = envelope;
  const prefix = new TextEncoder().encode(`meshchain/v1/${envelope.kind}\n`);
  const payload = canonicalBytes(unsigned);
  const out = new Uint8Array(prefix.length + payload.length);
  out.set(prefix);
  out.set(payload, prefix.length);
  return out;
}

async function run(options: BenchOptions, report: Reporter): Promise<void> {
  const rate: RateOptions = options.quick
    ? { reps: 3, repMs: 150, warmupMs: 100 }
    : { reps: 5, repMs: 250, warmupMs: 200 };
  report.method(
    `one process, synchronous calls in a loop; per figure ${rate.warmupMs} ms of untimed warm-up, then ${rate.reps} timed batches sized to ~${rate.repMs} ms each; figure = median calls/s over the batches [min–max]`,
  );
  report.method(
    `inputs: result bodies of ${describeShape(DEMO_RESULT)} (the demo's shard) and ${describeShape(LARGE_RESULT)}; assignment of 4 prompts; keys from node:crypto (NodeCryptoSigner) unless named`,
  );

  const node = new NodeCryptoSigner(generateSeed());
  const nodeId = deriveId(node.publicKey, 'node');
  const cp = new NodeCryptoSigner(generateSeed());
  const cpId = deriveId(cp.publicKey, 'cp');
  const openOptions = { trustedControlPlanes: new Set([cpId]), maxSkewMs: 10 * 60_000 };

  const measure = (name: string, fn: (i: number) => void, note?: string): void => {
    report.figure(name, 'ops/s', measureRate(fn, rate), note);
  };

  // Sealing and opening, as the node (result) and the control plane (assignment) do it.
  for (const shape of [DEMO_RESULT, LARGE_RESULT]) {
    const body = sampleResultBody(shape);
    const payload = encodeMessage(sealMessage('result', body, node));
    const label = `result ${describeShape(shape)}, ${payload.length.toLocaleString('en-US')} B`;
    measure(`seal + encode ${label}`, () => void encodeMessage(sealMessage('result', body, node)));
    const topic = topicFor('result', nodeId);
    measure(`open (verify + schema) ${label}`, () => void openMessage(topic, payload, openOptions));
  }
  const assignment = sampleAssignmentBody(4, 24);
  const assignmentPayload = encodeMessage(sealMessage('assignment', assignment, cp));
  const assignmentLabel = `assignment 4 prompts, ${assignmentPayload.length.toLocaleString('en-US')} B`;
  measure(`seal + encode ${assignmentLabel}`, () => void encodeMessage(sealMessage('assignment', assignment, cp)));
  const assignmentTopic = topicFor('assignment', nodeId);
  measure(`open (verify + schema) ${assignmentLabel}`, () => void openMessage(assignmentTopic, assignmentPayload, openOptions));

  // Where openMessage spends its time, step by step, on the demo-size result.
  const demoBody = sampleResultBody(DEMO_RESULT);
  const demoEnvelope = sealMessage('result', demoBody, node);
  const demoPayload = encodeMessage(demoEnvelope);
  const demoText = demoPayload.toString('utf8');
  const signed = signingBytesOf(demoEnvelope as Envelope<MessageKind>);
  const signature = Buffer.from(demoEnvelope.sig, 'base64url');
  measure('  open step: JSON.parse of the payload', () => void JSON.parse(demoText));
  measure('  open step: canonical bytes of the envelope (signed bytes)', () => void signingBytesOf(demoEnvelope as Envelope<MessageKind>));
  measure('  open step: ed25519 verify, node:crypto (key cached)', () => void verifySignature(node.publicKey, signed, signature));
  measure('  open step: result body schema (zod safeParse)', () => void resultBodySchema.safeParse(demoBody));

  // The two ed25519 implementations over the same bytes.
  const seed = generateSeed();
  const fast = new NodeCryptoSigner(seed);
  const portable = new NobleSigner(seed);
  const sizeNote = `${signed.length.toLocaleString('en-US')}-byte message`;
  measure('sign, node:crypto (NodeCryptoSigner)', () => void fast.sign(signed), sizeNote);
  measure('sign, @noble/ed25519 (NobleSigner)', () => void portable.sign(signed), sizeNote);
  const fastSig = fast.sign(signed);
  measure('verify, node:crypto (verifySignature, key cached)', () => void verifySignature(fast.publicKey, signed, fastSig), sizeNote);
  measure('verify, @noble/ed25519 (verifySignatureNoble)', () => void verifySignatureNoble(portable.publicKey, signed, fastSig), sizeNote);

  // Canonical JSON (RFC 8785) of result bodies, with JSON.stringify as the yardstick.
  for (const shape of [DEMO_RESULT, LARGE_RESULT]) {
    const body = sampleResultBody(shape);
    const bytes = canonicalJson(body).length.toLocaleString('en-US');
    measure(`canonicalJson(result ${describeShape(shape)}, ${bytes} B)`, () => void canonicalJson(body));
    measure(`  JSON.stringify of the same body (yardstick)`, () => void JSON.stringify(body));
    measure(`  canonicalHash (canonical JSON + sha256)`, () => void canonicalHash(body));
  }

  // Broker credentials: what each CONNECT costs the broker before MQTT.
  const token = createAuthToken(node, 'node');
  measure('createAuthToken (node side, per connect)', () => void createAuthToken(node, 'node'));
  measure('verifyAuthToken (broker side, per connect)', () => void verifyAuthToken(token));

  // A fleet larger than the public-key cache: every verify parses the key again.
  const keys = options.quick ? 0 : COLD_KEYS;
  if (keys > 0) {
    const signers = Array.from({ length: keys }, () => new NodeCryptoSigner(generateSeed()));
    const sigs = signers.map((s) => s.sign(signed));
    let next = 0;
    measure(
      `verify, node:crypto, ${keys.toLocaleString('en-US')} keys in rotation (cache misses)`,
      () => {
        const k = next++ % keys;
        verifySignature((signers[k] as NodeCryptoSigner).publicKey, signed, sigs[k] as Uint8Array);
      },
      'protocol keeps 10,000 keys, evicted first-in first-out',
    );
  } else {
    report.note('--quick: the cache-miss verify figure (12,000 keys) is skipped');
  }
}

export const protocolBenchmark: Benchmark = {
  name: 'protocol',
  title: 'envelope seal/open, ed25519 implementations, canonical JSON',
  run,
};
