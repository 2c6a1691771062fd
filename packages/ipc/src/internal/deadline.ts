// SPDX-License-Identifier: AGPL-3.0-only

/**
 * A timeout that yields to I/O already waiting. Node runs due timers before it polls sockets,
 * so a process starved past a deadline (a loaded machine) would give up on a reply or a hello
 * that had arrived in time. The expiry runs after one more poll instead, and not at all once
 * cancelled.
 *
 * @param onExpiry - called once the deadline passed and no cancel came first
 * @param ms - the deadline
 * @returns cancel; safe to call more than once
 */
export function deadlineTimer(onExpiry: () => void, ms: number): () => void {
  let cancelled = false;
  const timer = setTimeout(() => {
    setImmediate(() => {
      if (!cancelled) onExpiry();
    });
  }, ms);
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}
