/**
 * Worker threads for the host selective scan (cpu and wasm backends): the
 * sequences of a batch are independent, so a forward or backward scan is
 * split into ranges of sequences, one per thread, over shared memory. The
 * calling thread runs the first range itself and then blocks in
 * `Atomics.wait` until the workers' flags rise, so the scan stays a
 * synchronous tfjs kernel.
 *
 * Threads: `MAMBA_SCAN_THREADS` if set (1 turns the pool off), else
 * `navigator.hardwareConcurrency` (at most 8). The pool is used only where
 * it can work — Deno from files on disk, shared memory, blocking waits
 * allowed — and otherwise the scan runs on the calling thread as before
 * (bundles, browsers' main threads).
 *
 * @module
 */
import {
  type BackwardOut,
  backwardRange,
  type ForwardOut,
  forwardRange,
  type Host,
} from "./_scan_host_math.ts";

/** One scan call split over threads: what every range reads and writes. */
export type ScanJob =
  | { kind: "forward"; host: Host; out: ForwardOut }
  | {
    kind: "backward";
    host: Host;
    dy: Float32Array;
    e: Float32Array;
    /** One output set per thread (slot); per-row arrays are shared, sums are not. */
    outs: BackwardOut[];
  };

/**
 * How long `startScanPool` waits for the workers to load before it gives up
 * on threads (under `deno test` each worker's module is type-checked first:
 * several seconds on a busy 2-core machine).
 */
const START_TIMEOUT_MS = 60_000;
/** Longest a scan range may run on a worker before the call fails. */
const RUN_TIMEOUT_MS = 30 * 60_000;
/** Below this many (b·l·dIn·n) elements a scan runs on one thread. */
const MIN_PARALLEL_ELEMENTS = 1 << 16;

let current: Pool | null | undefined;

function wantedThreads(): number {
  let env: string | undefined;
  try {
    env = Deno.env.get("MAMBA_SCAN_THREADS");
  } catch {
    env = undefined; // no env permission: the default
  }
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new Error(
        `MAMBA_SCAN_THREADS: expected an integer from 1 to 64, received ${
          JSON.stringify(env)
        }`,
      );
    }
    return n;
  }
  return Math.min(8, Math.max(1, navigator.hardwareConcurrency || 1));
}

interface Pool {
  workers: Worker[];
  /** One slot a worker: 0 running, 1 done, 2 failed. */
  flags: Int32Array;
  /** How many workers have loaded. */
  ready: Int32Array;
  /** When the workers were started (performance.now()). */
  started: number;
  /** The idle timer that ends the pool. */
  idle?: ReturnType<typeof setTimeout>;
}

/**
 * Starts the workers (they load in the background); null where threads
 * cannot work here. Web Workers, not `node:worker_threads`: Deno delivers a
 * web Worker's messages while the main thread blocks in `Atomics.wait`, and
 * its node workers' only when the main thread's event loop runs (a scan
 * waited 40 s for one). A worker also loads only while the main thread's
 * event loop runs (under `deno test` its module is type-checked first), so
 * nobody waits here: scans run on one thread until every worker has counted
 * itself in.
 */
function spawn(): Pool | null {
  const threads = wantedThreads();
  if (threads < 2) return null;
  const url = new URL("./_scan_worker.ts", import.meta.url);
  try {
    if (url.protocol !== "file:" || !Deno.statSync(url).isFile) return null;
    const flags = new Int32Array(new SharedArrayBuffer(4 * threads));
    Atomics.wait(flags, 0, 1, 0); // throws where blocking waits are refused
    const ready = new Int32Array(new SharedArrayBuffer(4));
    const workers: Worker[] = [];
    for (let i = 1; i < threads; i++) {
      const w = new Worker(url, { type: "module" });
      w.postMessage({
        job: { kind: "ping" },
        i0: 0,
        i1: 0,
        flags: ready,
        slot: 0,
      });
      workers.push(w);
    }
    const pool: Pool = { workers, flags, ready, started: performance.now() };
    keepAlive(pool);
    return pool;
  } catch {
    return null;
  }
}

/**
 * A web Worker keeps the process alive, so an idle pool ends itself: each
 * use restarts an unref'd timer, and when it fires the workers are
 * terminated (the next large scan starts a new pool). A program's exit
 * waits at most this long for it.
 */
const IDLE_MS = 2000;

function keepAlive(pool: Pool): void {
  if (pool.idle !== undefined) clearTimeout(pool.idle);
  const idle = setTimeout(() => {
    // A pool still loading is not idle (under load, or under `deno test`'s
    // type check, loading outlasts IDLE_MS): wait for it, up to the start
    // timeout; one that never loads means threads do not work here.
    const loading = !isReady(pool);
    if (loading && performance.now() - pool.started < START_TIMEOUT_MS) {
      keepAlive(pool);
      return;
    }
    for (const w of pool.workers) w.terminate();
    if (current === pool) current = loading ? null : undefined;
  }, IDLE_MS);
  Deno.unrefTimer(idle);
  pool.idle = idle;
}

const isReady = (p: Pool) => Atomics.load(p.ready, 0) === p.workers.length;

/**
 * Starts the scan's worker threads and waits (without blocking the event
 * loop) until they have loaded, so that the next scan already uses them;
 * scans start the pool by themselves otherwise, and use it once loaded.
 * @returns how many threads scans will use (1: no pool here).
 */
export async function startScanPool(): Promise<number> {
  if (current === undefined) current = spawn();
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (current && !isReady(current)) {
    if (performance.now() > deadline) {
      for (const w of current.workers) w.terminate();
      current = null; // threads do not work here
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (current) keepAlive(current);
  return current ? current.workers.length + 1 : 1;
}

/** Threads a scan of `b` sequences with `elements` = b·l·dIn·n uses now. */
export function scanThreads(b: number, elements: number): number {
  if (b < 2 || elements < MIN_PARALLEL_ELEMENTS) return 1;
  if (current === undefined) current = spawn();
  if (!current || !isReady(current)) return 1;
  keepAlive(current);
  return Math.min(b, current.workers.length + 1);
}

/** Float32 copy of `a` in shared memory (a view of it if it already is). */
export function shared(a: Float32Array): Float32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

/** A zeroed Float32Array of `length` in shared memory. */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(4 * length));
}

/**
 * Runs `job` over sequences [0, b) on `threads` threads (from
 * {@linkcode scanThreads}); the calling thread takes the first range.
 * Every array in the job must be in shared memory when `threads` > 1.
 */
export function runScanJob(job: ScanJob, b: number, threads: number): void {
  const bounds = Array.from(
    { length: threads + 1 },
    (_, i) => Math.round((i * b) / threads),
  );
  const run = (slot: number) => {
    const [i0, i1] = [bounds[slot], bounds[slot + 1]];
    if (job.kind === "forward") forwardRange(job.host, i0, i1, job.out);
    else backwardRange(job.host, job.dy, job.e, i0, i1, job.outs[slot]);
  };
  const pool = current;
  if (threads === 1 || !pool) {
    for (let slot = 0; slot < threads; slot++) run(slot);
    return;
  }
  keepAlive(pool);
  const { workers, flags } = pool;
  for (let slot = 1; slot < threads; slot++) {
    Atomics.store(flags, slot, 0);
    workers[slot - 1].postMessage({
      job,
      i0: bounds[slot],
      i1: bounds[slot + 1],
      flags,
      slot,
    });
  }
  run(0);
  const deadline = performance.now() + RUN_TIMEOUT_MS;
  for (let slot = 1; slot < threads; slot++) {
    while (Atomics.load(flags, slot) === 0) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(
          `selective scan: worker ${slot} did not finish sequences [${
            bounds[slot]
          }, ${bounds[slot + 1]}) within ${RUN_TIMEOUT_MS / 60_000} minutes`,
        );
      }
      Atomics.wait(flags, slot, 0, Math.min(left, 1000));
    }
    if (Atomics.load(flags, slot) !== 1) {
      throw new Error(
        `selective scan: worker ${slot} failed on sequences [${bounds[slot]}, ${
          bounds[slot + 1]
        }) (its message is on stderr)`,
      );
    }
  }
}
