import { TOPIC_ROOT, TOPICS, MESSAGE_KINDS, type Direction, type MessageKind } from '@meshchain/protocol';

/**
 * Topic access rules, as pure functions.
 *
 * - The control plane may publish and subscribe anywhere under `meshchain/v1/`.
 * - A node may publish only the `up` kinds on its own subtree
 *   (`meshchain/v1/nodes/<self>/<leaf>`), and retain only what the topic table
 *   marks as retained state.
 * - A node may subscribe only to its own subtree (wildcards allowed after its
 *   id) and to the read-only broadcast topics. A wildcard in the node-id
 *   position, `#` at the root, shared subscriptions and `$SYS` are refused.
 */
export interface Identity {
  id: string;
  role: 'node' | 'cp';
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

const ALLOW: Decision = { allowed: true };
const deny = (reason: string): Decision => ({ allowed: false, reason });

const leavesByDirection = (direction: Direction): Map<string, MessageKind> =>
  new Map(MESSAGE_KINDS.filter((k) => TOPICS[k].direction === direction).map((k) => [TOPICS[k].leaf, k]));
const UP_LEAVES = leavesByDirection('up');
const DOWN_LEAVES = leavesByDirection('down');
const BROADCAST_LEAVES = leavesByDirection('broadcast');

export function canPublish(identity: Identity, topic: string, retain: boolean): Decision {
  if (topic.includes('+') || topic.includes('#')) return deny('wildcards are not allowed in a published topic');
  if (identity.role === 'cp') {
    return topic.startsWith(`${TOPIC_ROOT}/`) ? ALLOW : deny(`topic is outside ${TOPIC_ROOT}/`);
  }
  const own = `${TOPIC_ROOT}/nodes/${identity.id}/`;
  if (!topic.startsWith(own)) return deny(`a node publishes only under ${own}`);
  const kind = UP_LEAVES.get(topic.slice(own.length));
  if (!kind) return deny(`"${topic.slice(own.length)}" is not a topic a node publishes`);
  if (retain && !TOPICS[kind].retain) return deny(`${kind} messages must not be retained`);
  return ALLOW;
}

export function canSubscribe(identity: Identity, filter: string): Decision {
  if (filter.startsWith('$')) return deny('$SYS and shared subscriptions are not available');
  const levels = filter.split('/');
  if (!validFilter(levels)) return deny('malformed topic filter');
  if (identity.role === 'cp') {
    return filter.startsWith(`${TOPIC_ROOT}/`) ? ALLOW : deny(`filter is outside ${TOPIC_ROOT}/`);
  }
  const [a, b, area, id, leaf, ...rest] = levels;
  if (a !== 'meshchain' || b !== 'v1') return deny(`a node subscribes only under ${TOPIC_ROOT}/`);
  if (area === 'broadcast') {
    if (id === '#' || (id !== undefined && (id === '+' || BROADCAST_LEAVES.has(id)) && leaf === undefined)) return ALLOW;
    return deny('unknown broadcast topic');
  }
  if (area !== 'nodes') return deny('a node subscribes only to its own subtree and broadcasts');
  if (id !== identity.id) return deny('a node may not subscribe to another node or across nodes');
  if (leaf === undefined || rest.length > 0) return deny('unknown topic in the node subtree');
  if (leaf === '#' || leaf === '+' || DOWN_LEAVES.has(leaf) || UP_LEAVES.has(leaf)) return ALLOW;
  return deny(`"${leaf}" is not a topic in the node subtree`);
}

// MQTT 3.1.1 §4.7: '#' only as the last level, '+' and '#' only as whole levels.
function validFilter(levels: string[]): boolean {
  return levels.every((level, i) => {
    if (level === '#') return i === levels.length - 1;
    if (level === '+') return true;
    return !level.includes('#') && !level.includes('+');
  });
}

/** The only will a node may leave behind: its retained presence. */
export function canSetWill(clientId: string, topic: string, retain: boolean): Decision {
  if (topic !== `${TOPIC_ROOT}/nodes/${clientId}/presence`) return deny('a will may only be the client\'s own presence');
  if (!retain) return deny('a presence will must be retained');
  return ALLOW;
}
