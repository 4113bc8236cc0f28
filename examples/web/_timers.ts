/**
 * Private: `node:timers` for the browser bundle (the build maps the
 * specifier here). The decode engine yields to the event loop between steps
 * with `setImmediate`; browsers have none, and `setTimeout(0)` is clamped to
 * 4 ms once nested, so a MessageChannel message stands in: a task of its
 * own, after which the page can paint the streamed tokens.
 *
 * @module
 */

const channel = new MessageChannel();
const queue: (() => void)[] = [];
channel.port1.onmessage = () => queue.shift()?.();

/**
 * Runs `callback` in a later task.
 * @param callback the function to run.
 */
export function setImmediate(callback: () => void): void {
  queue.push(callback);
  channel.port2.postMessage(null);
}
