import type { z } from 'zod';
import { TopicError } from './errors.ts';
import { NODE_ID_PATTERN } from './ids.ts';
import {
  ackBodySchema,
  announcementBodySchema,
  assignmentBodySchema,
  bindingBodySchema,
  commandBodySchema,
  telemetryBodySchema,
  capabilitiesBodySchema,
  handbackBodySchema,
  presenceBodySchema,
  progressBodySchema,
  resultBodySchema,
} from './schemas.ts';
import { updateOfferBodySchema, updateStatusBodySchema } from './ota.ts';

export const TOPIC_ROOT = 'meshchain/v1';

/**
 * Who may publish on a topic:
 * - `up`: a node, on its own subtree, to the control plane;
 * - `down`: the control plane, to one node's subtree;
 * - `broadcast`: the control plane, to every node (read-only for nodes).
 */
export type Direction = 'up' | 'down' | 'broadcast';

interface TopicSpec<D extends Direction, S extends z.ZodType> {
  direction: D;
  /** The path below `meshchain/v1/nodes/<nodeId>/` (or below `meshchain/v1/broadcast/`). */
  leaf: string;
  schema: S;
  retain: boolean;
}

function spec<const D extends Direction, S extends z.ZodType>(s: TopicSpec<D, S>): TopicSpec<D, S> {
  return s;
}

/**
 * The topic table: topic → direction → body schema → TypeScript type.
 * Each topic carries exactly one message kind, named like the table key.
 */
export const TOPICS = {
  presence: spec({ direction: 'up', leaf: 'presence', schema: presenceBodySchema, retain: true }),
  capabilities: spec({ direction: 'up', leaf: 'capabilities', schema: capabilitiesBodySchema, retain: true }),
  result: spec({ direction: 'up', leaf: 'results', schema: resultBodySchema, retain: false }),
  handback: spec({ direction: 'up', leaf: 'handbacks', schema: handbackBodySchema, retain: false }),
  binding: spec({ direction: 'up', leaf: 'binding', schema: bindingBodySchema, retain: true }),
  telemetry: spec({ direction: 'up', leaf: 'telemetry', schema: telemetryBodySchema, retain: false }),
  progress: spec({ direction: 'up', leaf: 'progress', schema: progressBodySchema, retain: false }),
  command: spec({ direction: 'down', leaf: 'commands', schema: commandBodySchema, retain: false }),
  assignment: spec({ direction: 'down', leaf: 'assignments', schema: assignmentBodySchema, retain: false }),
  ack: spec({ direction: 'down', leaf: 'acks', schema: ackBodySchema, retain: false }),
  updateStatus: spec({ direction: 'up', leaf: 'update-status', schema: updateStatusBodySchema, retain: false }),
  updateOffer: spec({ direction: 'down', leaf: 'update-offers', schema: updateOfferBodySchema, retain: false }),
  announcement: spec({ direction: 'broadcast', leaf: 'announcements', schema: announcementBodySchema, retain: true }),
} as const;

export type MessageKind = keyof typeof TOPICS;
export type BodyOf<K extends MessageKind> = z.infer<(typeof TOPICS)[K]['schema']>;
export type KindsByDirection<D extends Direction> = {
  [K in MessageKind]: (typeof TOPICS)[K]['direction'] extends D ? K : never;
}[MessageKind];
export type UpKind = KindsByDirection<'up'>;
export type DownKind = KindsByDirection<'down'>;

export const MESSAGE_KINDS = Object.keys(TOPICS) as MessageKind[];

export function isMessageKind(value: string): value is MessageKind {
  return Object.hasOwn(TOPICS, value);
}

/** The concrete topic of a message kind for one node (or the broadcast topic). */
export function topicFor(kind: MessageKind, nodeId?: string): string {
  const t = TOPICS[kind];
  if (t.direction === 'broadcast') return `${TOPIC_ROOT}/broadcast/${t.leaf}`;
  if (!nodeId || !NODE_ID_PATTERN.test(nodeId)) throw new TopicError(`topic "${kind}" needs a valid node id`);
  return `${TOPIC_ROOT}/nodes/${nodeId}/${t.leaf}`;
}

/** The subscription the control plane uses to hear one kind from every node. */
export function fleetSubscription(kind: UpKind): string {
  return `${TOPIC_ROOT}/nodes/+/${TOPICS[kind].leaf}`;
}

export interface ParsedTopic {
  kind: MessageKind;
  /** The node the topic belongs to; null for broadcast topics. */
  nodeId: string | null;
}

const kindByLeaf = new Map<string, MessageKind>(
  MESSAGE_KINDS.map((kind) => [`${TOPICS[kind].direction === 'broadcast' ? 'broadcast' : 'node'}:${TOPICS[kind].leaf}`, kind]),
);

/** Maps a concrete topic back to its kind and node; null when it is not one of ours. */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  if (parts[0] !== 'meshchain' || parts[1] !== 'v1') return null;
  if (parts[2] === 'broadcast' && parts.length === 4) {
    const kind = kindByLeaf.get(`broadcast:${parts[3]}`);
    return kind ? { kind, nodeId: null } : null;
  }
  if (parts[2] === 'nodes' && parts.length === 5) {
    const nodeId = parts[3] ?? '';
    const kind = kindByLeaf.get(`node:${parts[4]}`);
    if (!kind || !NODE_ID_PATTERN.test(nodeId)) return null;
    return { kind, nodeId };
  }
  return null;
}
