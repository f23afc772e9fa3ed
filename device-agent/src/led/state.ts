/**
 * The LED state machine: a pure function from the agent's status to the one
 * state the LED shows. No timers, no I/O.
 */

export type AgentPhase = 'booting' | 'running' | 'stopping';

/** What the agent knows about itself at one instant; the only input of the LED. */
export interface AgentStatus {
  phase: AgentPhase;
  /** Linked to the control plane (MQTT session up). */
  connected: boolean;
  /** Bound to an owner's address. */
  ownerBound: boolean;
  /** Running at least one shard. */
  working: boolean;
  /** An OTA update is downloading or installing. */
  updating: boolean;
  /** From telemetry, with hysteresis (see `isOverheating`). */
  overheating: boolean;
  /** A fault the owner has to act on, or null. */
  error: string | null;
  /** The owner asked the box to show itself until this time (ms since epoch). */
  identifyUntil: number | null;
  /** The time of this snapshot (ms since epoch, same clock as `identifyUntil`). */
  now: number;
}

export const LED_STATES = [
  'identify',
  'updating',
  'error',
  'overheating',
  'booting',
  'offline',
  'unclaimed',
  'working',
  'idle',
] as const;

export type LedState = (typeof LED_STATES)[number];

/**
 * Priority, highest first; the first rule that holds wins.
 *
 * - identify: the owner just asked "which box is this?" from the web page; it
 *   is bounded in time, so it cannot hide anything for long.
 * - updating: "do not unplug" is the one instruction whose neglect can cost a
 *   reinstall, so it beats error (whose advice is to restart the box); an update
 *   that fails ends, and its error shows next.
 * - error: the agent cannot do its job until the owner acts.
 * - overheating: work is paused; the owner has to give the box air.
 * - booting: during start and shutdown the link and claim are not known yet.
 * - offline: no link means no work and no way to claim; fix the network first.
 * - unclaimed: online but nobody earns from it until the owner claims it.
 * - working, idle: all is well; working is shown so the owner sees it earn.
 */
const RULES: ReadonlyArray<readonly [LedState, (s: AgentStatus) => boolean]> = [
  ['identify', (s) => s.identifyUntil !== null && s.now < s.identifyUntil],
  ['updating', (s) => s.updating],
  ['error', (s) => s.error !== null],
  ['overheating', (s) => s.overheating],
  ['booting', (s) => s.phase !== 'running'],
  ['offline', (s) => !s.connected],
  ['unclaimed', (s) => !s.ownerBound],
  ['working', (s) => s.working],
  ['idle', () => true],
];

/** The LED states in priority order, highest first. */
export const LED_PRIORITY: readonly LedState[] = RULES.map(([state]) => state);

export function ledStateOf(status: AgentStatus): LedState {
  for (const [state, holds] of RULES) if (holds(status)) return state;
  return 'idle';
}

/**
 * When the state computed from this same status would change by the passage of
 * time alone (the end of an identify request), or null if it never would.
 */
export function ledStateValidUntil(status: AgentStatus): number | null {
  const identifying = status.identifyUntil !== null && status.now < status.identifyUntil;
  return identifying ? status.identifyUntil : null;
}
