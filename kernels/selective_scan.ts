/**
 * The selective scan: one entry point, shape checks, and the choice of
 * implementation ("chunked", "seed", "reference", or a registered "webgpu"
 * kernel).
 *
 * Reference: Gu & Dao, "Mamba" (2023), Algorithm 2; `selective_scan_fn` in
 * state-spaces/mamba `mamba_ssm/ops/selective_scan_interface.py`.
 *
 * @module
 */
import { tf } from "./backend.ts";
import { chunkedScan } from "./scan_chunked.ts";
import { hostScan } from "./_scan_host.ts";
import { referenceScan } from "./scan_reference.ts";
import { seedScan } from "./scan_seed.ts";
import type {
  ScanImpl,
  ScanInputs,
  ScanOptions,
  ScanResult,
} from "./scan_types.ts";

/** A scan implementation that plugs in through {@linkcode registerScanImplementation}. */
export type ScanImplementation = (
  inputs: ScanInputs,
  options: ScanOptions,
) => ScanResult;

const registry = new Map<"webgpu", ScanImplementation>();

const IMPLS: readonly ScanImpl[] = [
  "auto",
  "reference",
  "chunked",
  "seed",
  "webgpu",
];

/**
 * Registers the implementation that `impl: "webgpu"` (and `"auto"` on the
 * webgpu backend) calls. Registering again replaces the previous one.
 *
 * @param name the implementation's name; only `"webgpu"` is pluggable.
 * @param fn receives inputs already shape-checked by {@linkcode selectiveScan}.
 * @example
 * ```ts
 * import { registerScanImplementation } from "./selective_scan.ts";
 * import { chunkedScan } from "./scan_chunked.ts";
 * registerScanImplementation("webgpu", (inputs, options) => chunkedScan(inputs, options));
 * ```
 */
export function registerScanImplementation(
  name: "webgpu",
  fn: ScanImplementation,
): void {
  if (name !== "webgpu") {
    throw new Error(
      `registerScanImplementation: name: expected "webgpu", received ${
        JSON.stringify(name)
      }`,
    );
  }
  registry.set(name, fn);
}

/**
 * Whether an implementation has been registered under this name.
 *
 * @param name `"webgpu"`.
 * @returns true after {@linkcode registerScanImplementation} was called for it.
 */
export function hasScanImplementation(name: "webgpu"): boolean {
  return registry.has(name);
}

function expectShape(
  name: string,
  t: tf.Tensor | undefined,
  expected: number[],
  letters: string,
): void {
  if (t === undefined) return;
  const ok = t.rank === expected.length &&
    t.shape.every((s, i) => s === expected[i]);
  if (!ok) {
    throw new Error(
      `selectiveScan: ${name}: expected shape [${
        expected.join(", ")
      }] (${letters}), received [${t.shape.join(", ")}]`,
    );
  }
  if (t.dtype !== "float32") {
    throw new Error(
      `selectiveScan: ${name}: expected dtype float32, received ${t.dtype}`,
    );
  }
}

/** Throws an Error naming the first input whose shape does not fit. */
function validate(inputs: ScanInputs): void {
  const { u, A } = inputs;
  if (!u || u.rank !== 3 || u.shape.some((s) => s < 1)) {
    throw new Error(
      `selectiveScan: u: expected a shape [b, l, dIn] with every size ≥ 1, received ${
        u ? `[${u.shape.join(", ")}]` : String(u)
      }`,
    );
  }
  const [b, l, dIn] = u.shape;
  if (!A || A.rank !== 2 || A.shape[0] !== dIn || A.shape[1] < 1) {
    throw new Error(
      `selectiveScan: A: expected shape [${dIn}, n] (dIn, n) with n ≥ 1, received ${
        A ? `[${A.shape.join(", ")}]` : String(A)
      }`,
    );
  }
  const n = A.shape[1];
  expectShape("u", u, [b, l, dIn], "b, l, dIn");
  expectShape("delta", inputs.delta, [b, l, dIn], "b, l, dIn");
  if (!inputs.delta) {
    throw new Error("selectiveScan: delta: expected a tensor, received none");
  }
  expectShape("A", A, [dIn, n], "dIn, n");
  for (const name of ["B", "C"] as const) {
    if (!inputs[name]) {
      throw new Error(
        `selectiveScan: ${name}: expected a tensor, received none`,
      );
    }
    expectShape(name, inputs[name], [b, l, n], "b, l, n");
  }
  expectShape("D", inputs.D, [dIn], "dIn");
  expectShape("z", inputs.z, [b, l, dIn], "b, l, dIn");
  expectShape("deltaBias", inputs.deltaBias, [dIn], "dIn");
  expectShape("initialState", inputs.initialState, [b, dIn, n], "b, dIn, n");
}

/** "reference" on tensors: float64 on the host, back as float32 tensors. */
function referenceOnTensors(
  inputs: ScanInputs,
  options: ScanOptions,
): ScanResult {
  if (tf.getBackend() === "webgpu") {
    throw new Error(
      'selectiveScan: impl "reference": expected the cpu or wasm backend (it reads tensors synchronously, which crashes on webgpu in Deno), received "webgpu"; call referenceScan on arrays from `await tensor.data()` instead',
    );
  }
  const [b, l, dIn] = inputs.u.shape;
  const n = inputs.A.shape[1];
  const read = (t?: tf.Tensor) => t?.dataSync() as Float32Array | undefined;
  const out = referenceScan({
    b,
    l,
    dIn,
    n,
    u: read(inputs.u)!,
    delta: read(inputs.delta)!,
    A: read(inputs.A)!,
    B: read(inputs.B)!,
    C: read(inputs.C)!,
    D: read(inputs.D),
    z: read(inputs.z),
    deltaBias: read(inputs.deltaBias),
    deltaSoftplus: inputs.deltaSoftplus,
    initialState: read(inputs.initialState),
  });
  const y = tf.tensor3d(Float32Array.from(out.y), [b, l, dIn]);
  if (!options.returnState) return { y };
  return { y, state: tf.tensor3d(Float32Array.from(out.state), [b, dIn, n]) };
}

/**
 * The selective scan of Mamba:
 * Δ' = softplus(Δ + deltaBias) (or Δ + deltaBias without `deltaSoftplus`),
 * h_t = exp(Δ'_t A) ⊙ h_{t−1} + Δ'_t u_t B_t (state h: (dIn, n) per batch),
 * y_t = C_t · h_t + D ⊙ u_t, then y_t ← y_t · SiLU(z_t) when z is given.
 *
 * Implementations (`options.impl`): `"chunked"` (tfjs ops, every backend,
 * differentiable, stable at every length), `"webgpu"` (the registered kernel),
 * `"auto"` (webgpu when on the webgpu backend and registered; on cpu and wasm
 * the fused host loop of `_scan_host.ts`, float64 inside, with a hand-written
 * backward that recomputes the states; else chunked),
 * `"seed"` (the unstable cumsum scan, for comparison), `"reference"` (float64
 * on the host; cpu and wasm only).
 *
 * @param inputs u (b, l, dIn); delta (b, l, dIn); A (dIn, n); B (b, l, n);
 *   C (b, l, n); optional D (dIn), z (b, l, dIn), deltaBias (dIn),
 *   deltaSoftplus, initialState (b, dIn, n). All float32.
 * @param options impl (default "auto"), returnState, chunkSize.
 * @returns y (b, l, dIn), and the final state (b, dIn, n) when
 *   `returnState` is set.
 * @throws Error naming the input whose shape is wrong, e.g.
 *   `selectiveScan: B: expected shape [2, 17, 16] (b, l, n), received [2, 16, 16]`;
 *   or when the requested implementation is unavailable.
 * @example
 * ```ts
 * import { tf } from "./backend.ts";
 * import { selectiveScan } from "./selective_scan.ts";
 * const [b, l, dIn, n] = [1, 16, 4, 8];
 * const { y, state } = selectiveScan({
 *   u: tf.randomNormal([b, l, dIn]),
 *   delta: tf.randomNormal([b, l, dIn]),
 *   A: tf.neg(tf.exp(tf.randomNormal([dIn, n]))),
 *   B: tf.randomNormal([b, l, n]),
 *   C: tf.randomNormal([b, l, n]),
 *   D: tf.ones([dIn]),
 *   deltaSoftplus: true,
 * }, { returnState: true }); // y: (1, 16, 4), state: (1, 4, 8)
 * ```
 *
 * Reference: Gu & Dao, "Mamba" (2023), Algorithm 2; `selective_scan_ref` in
 * state-spaces/mamba.
 */
export function selectiveScan(
  inputs: ScanInputs,
  options: ScanOptions = {},
): ScanResult {
  const impl = options.impl ?? "auto";
  if (!IMPLS.includes(impl)) {
    throw new Error(
      `selectiveScan: impl: expected one of ${
        IMPLS.map((s) => JSON.stringify(s)).join(", ")
      }, received ${JSON.stringify(impl)}`,
    );
  }
  validate(inputs);
  const webgpu = registry.get("webgpu");
  switch (impl) {
    case "auto": {
      const backend = tf.getBackend();
      if (webgpu && backend === "webgpu") return webgpu(inputs, options);
      // cpu, wasm: the fused host loop (fast, O(b·l·dIn) memory for autodiff)
      if (backend === "cpu" || backend === "wasm") {
        return hostScan(inputs, options);
      }
      return chunkedScan(inputs, options);
    }
    case "webgpu":
      if (!webgpu) {
        throw new Error(
          'selectiveScan: impl "webgpu": expected a registered implementation (import the WebGPU kernel module, which calls registerScanImplementation("webgpu", …)), received none',
        );
      }
      return webgpu(inputs, options);
    case "chunked":
      return chunkedScan(inputs, options);
    case "seed":
      return seedScan(inputs, options);
    case "reference":
      return referenceOnTensors(inputs, options);
  }
}
