/**
 * GPU time of the WGSL selective scan (forward, forward+backward, decode
 * step) on the shapes of issue 4, against the official CUDA kernel's times
 * measured on the same H200 (../shared/gpu/README.md).
 *
 * Timing: R calls are queued without any readback, then one small readback
 * waits for them; the time per call is (wall(R2) − wall(R1)) / (R2 − R1), so
 * the ~12 ms submit/readback latency cancels. Several launch tunings are
 * swept per shape; the table shows the default and the best.
 *
 * Usage: deno run -A bench/scan_gpu.ts [--out bench/results/scan_gpu.json]
 *   [--quick]
 *
 * Reference: issue 4 (bench table); state-spaces/mamba benchmarks.
 *
 * @module
 */
import { setBackend, tf } from "../kernels/backend.ts";
import { referenceScan } from "../kernels/scan_reference.ts";
import {
  type ScanTuning,
  setScanTuning,
} from "../kernels/webgpu/scan_kernels.ts";
import {
  webgpuScanStep,
  webgpuSelectiveScan,
} from "../kernels/webgpu/selective_scan_webgpu.ts";

const args = Deno.args;
const outPath = args.includes("--out")
  ? args[args.indexOf("--out") + 1]
  : "bench/results/scan_gpu.json";
const quick = args.includes("--quick");

await setBackend("webgpu");
const adapterInfo =
  (tf.backend() as unknown as { adapterInfo?: { description?: string } })
    .adapterInfo;
console.log("adapter:", JSON.stringify(adapterInfo));
const defaults = setScanTuning({});

const SHAPES: [number, number, number, number, number][] = quick
  ? [[1, 256, 256, 16, 0.125]]
  : [
    [8, 2048, 1536, 16, 0.845],
    [1, 2048, 1536, 16, 0.125],
    [1, 8192, 5120, 16, 1.515],
    [16, 4096, 2048, 16, 4.345],
  ];

async function sync(t: tf.Tensor): Promise<void> {
  const s = tf.tidy(() => t.flatten().slice([0], [1]));
  await s.data();
  s.dispose();
}

/** ms per call of `fn` (which returns a tensor to sync on and dispose). */
async function timeIt(fn: () => tf.Tensor, r1 = 10, r2 = 60): Promise<number> {
  const run = async (r: number) => {
    const t0 = performance.now();
    let last: tf.Tensor | null = null;
    for (let i = 0; i < r; i++) {
      last?.dispose();
      last = fn();
    }
    await sync(last!);
    last!.dispose();
    return performance.now() - t0;
  };
  await run(3); // compile + warm
  const a = await run(r1);
  const b = await run(r2);
  const c = await run(r1);
  return (b - Math.min(a, c)) / (r2 - r1);
}

function inputs(b: number, l: number, dIn: number, n: number, fused: boolean) {
  return {
    u: tf.randomUniform([b, l, dIn], -1, 1) as tf.Tensor3D,
    delta: tf.randomUniform(
      [b, l, dIn],
      fused ? -4 : 0.001,
      fused ? 0 : 0.1,
    ) as tf.Tensor3D,
    A: tf.neg(tf.randomUniform([dIn, n], 0.5, 8)) as tf.Tensor2D,
    B: tf.randomUniform([b, l, n], -1, 1) as tf.Tensor3D,
    C: tf.randomUniform([b, l, n], -1, 1) as tf.Tensor3D,
    ...(fused
      ? {
        D: tf.randomUniform([dIn], -1, 1) as tf.Tensor1D,
        z: tf.randomUniform([b, l, dIn], -3, 3) as tf.Tensor3D,
        deltaBias: tf.randomUniform([dIn], -2, 0) as tf.Tensor1D,
        deltaSoftplus: true,
      }
      : {}),
  };
}

/** Minimal bytes moved by the forward (read u, Δ, [z], B, C; write y). */
function fwdBytes(b: number, l: number, dIn: number, n: number, z: boolean) {
  return 4 * (b * l * dIn * (3 + (z ? 1 : 0)) + 2 * b * l * n);
}
/** Minimal bytes of forward + backward. */
function fwdBwdBytes(b: number, l: number, dIn: number, n: number, z: boolean) {
  const zb = z ? 1 : 0;
  // backward: read u, Δ, [z], gy, B, C; write gu, gΔ, [gz], gB, gC
  return fwdBytes(b, l, dIn, n, z) +
    4 * (b * l * dIn * (3 + zb + 2 + zb) + 4 * b * l * n);
}

interface Row {
  what: string;
  shape: number[];
  ms: number;
  gbps: number;
  officialMs: number | null;
  speedup: number | null;
  tuning: Partial<ScanTuning>;
  sweep?: { tuning: Partial<ScanTuning>; ms: number }[];
}
const rows: Row[] = [];

// 1. correctness on this GPU (moderate shape, segments forced)
{
  const [b, l, dIn, n] = [2, 300, 200, 16];
  const x = inputs(b, l, dIn, n, true);
  const ref = referenceScan({
    b,
    l,
    dIn,
    n,
    u: await x.u.data(),
    delta: await x.delta.data(),
    A: await x.A.data(),
    B: await x.B.data(),
    C: await x.C.data(),
    D: await x.D!.data(),
    z: await x.z!.data(),
    deltaBias: await x.deltaBias!.data(),
    deltaSoftplus: true,
  });
  console.log("oracle done");
  for (const segLen of [0, 64]) {
    setScanTuning({ segLen });
    const { y } = webgpuSelectiveScan(x);
    const got = await y.data();
    let num = 0, den = 0;
    for (let i = 0; i < got.length; i++) {
      num = Math.max(num, Math.abs(got[i] - ref.y[i]));
      den = Math.max(den, Math.abs(ref.y[i]));
    }
    console.log(
      `check on GPU segLen=${segLen}: rel err ${(num / den).toExponential(2)}`,
    );
    y.dispose();
  }
  setScanTuning({ segLen: 0 });
  tf.dispose(
    Object.values(x).filter((v) => v instanceof tf.Tensor) as tf.Tensor[],
  );
}

const sweep: Partial<ScanTuning>[] = [];
for (const statesPerThread of [4, 16]) {
  for (const minWorkgroups of [1, 1024]) {
    sweep.push({ statesPerThread, minWorkgroups, forwardWorkgroup: 256 });
  }
}

for (const [b, l, dIn, n, official] of SHAPES) {
  for (const fused of [false, true]) {
    const x = inputs(b, l, dIn, n, fused);
    const results: { tuning: Partial<ScanTuning>; ms: number }[] = [];
    for (const t of quick ? sweep.slice(0, 3) : sweep) {
      setScanTuning({ ...defaults, ...t });
      const t0 = performance.now();
      const ms = await timeIt(() => webgpuSelectiveScan(x).y);
      results.push({ tuning: t, ms });
      console.log(
        `  [${b},${l},${dIn},${n}] fused=${fused} ${JSON.stringify(t)}: ${
          ms.toFixed(3)
        } ms/call (${(performance.now() - t0).toFixed(0)} ms wall)`,
      );
    }
    setScanTuning(defaults);
    const dms = await timeIt(() => webgpuSelectiveScan(x).y);
    const best = results.reduce((a, c) => (c.ms < a.ms ? c : a));
    for (
      const [label, r] of [["default", { tuning: {}, ms: dms }], [
        "best",
        best,
      ]] as const
    ) {
      rows.push({
        what: `forward ${
          fused ? "fused (D, z, Δ bias+softplus)" : "plain"
        } [${label}]`,
        shape: [b, l, dIn, n],
        ms: r.ms,
        gbps: fwdBytes(b, l, dIn, n, fused) / r.ms / 1e6,
        officialMs: official,
        speedup: official / r.ms,
        tuning: r.tuning,
        sweep: label === "best" ? results : undefined,
      });
    }
    // forward + backward through tf.grads (loss = Σ y·w)
    if (fused) {
      const w = tf.randomUniform([b, l, dIn], -1, 1);
      const names = [
        "u",
        "delta",
        "A",
        "B",
        "C",
        "D",
        "z",
        "deltaBias",
      ] as const;
      const g = tf.grads((...xs: tf.Tensor[]) => {
        const m = Object.fromEntries(names.map((k, i) => [k, xs[i]]));
        return tf.sum(
          tf.mul(
            webgpuSelectiveScan({ ...m, deltaSoftplus: true } as never).y,
            w,
          ),
        );
      });
      const vars = names.map((k) => x[k] as tf.Tensor);
      for (const bt of [65536]) {
        setScanTuning({ ...defaults, minBackwardThreads: bt });
        const ms = await timeIt(
          () => {
            const gs = g(vars);
            const s = tf.addN(gs.map((t) => tf.sum(t)));
            tf.dispose(gs);
            return s;
          },
          4,
          14,
        );
        console.log(
          `  fwd+bwd [${b},${l},${dIn},${n}] threads=${bt}: ${
            ms.toFixed(3)
          } ms`,
        );
        rows.push({
          what: `forward+backward fused (tf.grads, 8 grads)`,
          shape: [b, l, dIn, n],
          ms,
          gbps: fwdBwdBytes(b, l, dIn, n, true) / ms / 1e6,
          officialMs: null,
          speedup: null,
          tuning: { minBackwardThreads: bt },
        });
      }
      setScanTuning(defaults);
      w.dispose();
    }
    tf.dispose(
      Object.values(x).filter((v) => v instanceof tf.Tensor) as tf.Tensor[],
    );
  }
}

// decode step
{
  const [b, dIn, n] = [1, 1536, 16];
  const r = (s: number[]) => tf.randomUniform(s, -1, 1);
  const st = {
    u: r([b, dIn]) as tf.Tensor2D,
    delta: r([b, dIn]) as tf.Tensor2D,
    A: tf.neg(tf.randomUniform([dIn, n], 0.5, 8)) as tf.Tensor2D,
    B: r([b, n]) as tf.Tensor2D,
    C: r([b, n]) as tf.Tensor2D,
    D: r([dIn]) as tf.Tensor1D,
    z: r([b, dIn]) as tf.Tensor2D,
    deltaBias: r([dIn]) as tf.Tensor1D,
    deltaSoftplus: true,
    state: r([b, dIn, n]) as tf.Tensor3D,
  };
  const ms = await timeIt(
    () => {
      const o = webgpuScanStep(st);
      o.state.dispose();
      return o.y;
    },
    50,
    550,
  );
  rows.push({
    what: "decode step fused (per call, incl. tfjs dispatch overhead)",
    shape: [b, 1, dIn, n],
    ms,
    gbps: 4 * (b * dIn * (4 + 2 * n) + dIn * (n + 2)) / ms / 1e6,
    officialMs: 0.028,
    speedup: 0.028 / ms,
    tuning: {},
  });
}

console.log(
  "\n| what | shape (b, l, dIn, n) | ms | GB/s | official CUDA ms | official / ours | tuning |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(
    `| ${r.what} | ${r.shape.join(", ")} | ${r.ms.toFixed(3)} | ${
      r.gbps.toFixed(0)
    } | ${r.officialMs ?? "—"} | ${
      r.speedup ? r.speedup.toFixed(2) + "×" : "—"
    } | ${JSON.stringify(r.tuning)} |`,
  );
}
await Deno.mkdir(outPath.split("/").slice(0, -1).join("/") || ".", {
  recursive: true,
});
await Deno.writeTextFile(
  outPath,
  JSON.stringify(
    { date: new Date().toISOString(), adapter: adapterInfo, defaults, rows },
    null,
    2,
  ),
);
console.log("wrote", outPath);
