/**
 * One interface for every way of driving the status LED.
 *
 * Contract (checked by test/led/conformance.ts for every backend):
 * - `open()` acquires the LED and leaves it off; opening twice is a no-op.
 * - `set(on)` lights or darkens it; it rejects with a `LedError` (`not-open`)
 *   before `open()` or after `close()`.
 * - `close()` turns it off and gives it back; safe to call twice or unopened;
 *   the backend can be opened again afterwards.
 */
export interface LedBackend {
  readonly name: string;
  open(): Promise<void>;
  set(on: boolean): Promise<void>;
  close(): Promise<void>;
}
