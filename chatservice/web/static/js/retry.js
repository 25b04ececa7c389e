// Retrying a read that failed because the server was away.
//
// Only "could not reach it" and 5xx answers are retried, with the same
// growing delay as the WebSocket's reconnection; any other refusal is the
// caller's to show. Stops as soon as the caller no longer wants the answer.

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

/** True for an error worth trying again: no answer, or the server's own fault. */
export function transient(error) {
  return error?.status === 0 || error?.status >= 500;
}

/**
 * Run `task` until it succeeds or fails for good.
 * @template T
 * @param {() => Promise<T>} task
 * @param {object} options
 * @param {() => boolean} options.cancelled stop (the result is then undefined)
 * @param {(delayMs: number) => void} [options.onWait] before each wait
 * @returns {Promise<T|undefined>}
 */
export async function retrying(task, { cancelled, onWait = () => {} }) {
  for (let failures = 0; ; failures += 1) {
    try {
      return await task();
    } catch (error) {
      if (!transient(error) || cancelled()) throw error;
      const delayMs = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** failures);
      onWait(delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (cancelled()) return undefined;
    }
  }
}
