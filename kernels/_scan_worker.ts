/**
 * A worker thread (a web Worker) of the host scan's pool (`_scan_pool.ts`): runs a range of
 * sequences of a forward or backward scan on shared memory and raises its
 * slot of the pool's flag array (1 done, 2 failed) for the main thread,
 * which waits on it with `Atomics.wait`.
 *
 * @module
 */
import { backwardRange, forwardRange } from "./_scan_host_math.ts";
import type { ScanJob } from "./_scan_pool.ts";

interface Message {
  job: ScanJob | { kind: "ping" };
  i0: number;
  i1: number;
  flags: Int32Array;
  slot: number;
}

// deno-lint-ignore no-explicit-any
const scope = self as any;
scope.onmessage = (event: MessageEvent<Message>) => {
  const { job, i0, i1, flags, slot } = event.data;
  if (job.kind === "ping") { // loaded: count this worker in
    Atomics.add(flags, 0, 1);
    Atomics.notify(flags, 0);
    return;
  }
  let status = 1;
  try {
    if (job.kind === "forward") forwardRange(job.host, i0, i1, job.out);
    else backwardRange(job.host, job.dy, job.e, i0, i1, job.outs[slot]);
  } catch (err) {
    status = 2;
    console.error(`scan worker ${slot}: ${(err as Error).message}`);
  }
  Atomics.store(flags, slot, status);
  Atomics.notify(flags, slot);
};
