/**
 * Cleanup in reverse order of setup (close the LED, then remove its fake
 * tree), which `t.after` alone does not give: its hooks run first-in first-out.
 */
import type { TestContext } from 'node:test';

const stacks = new WeakMap<TestContext, Array<() => unknown>>();

export function defer(t: TestContext, cleanup: () => unknown): void {
  let stack = stacks.get(t);
  if (!stack) {
    const fresh: Array<() => unknown> = [];
    stacks.set(t, fresh);
    t.after(async () => {
      const errors: unknown[] = [];
      for (let fn = fresh.pop(); fn; fn = fresh.pop()) {
        try {
          await fn();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) throw errors[0];
    });
    stack = fresh;
  }
  stack.push(cleanup);
}
