/**
 * WGSL of the register-tiled matmul C = A·Wᵀ (+ bias) with both operands
 * k-contiguous: A (M, K) row-major, W (N, K) row-major (torch's (out, in)
 * layout), C (M, N) row-major.
 *
 * Tiling: a workgroup of 256 threads owns a BM × BN tile of C and walks K in
 * steps of BK. Each step the 256 threads stage A's BM × BK and W's BN × BK
 * slices in workgroup memory k-major (`As[kk][row]`), each thread moving
 * 4×4 blocks (four 4-wide loads, transposed in registers, four vec4 stores);
 * the next slice is loaded into registers while the current one is used.
 * Thread (ty, tx) accumulates TM × TN outputs in registers: rows
 * `g·4·TY + 4·ty + j` and columns `h·4·TX + 4·tx + j` (interleaved, so the
 * inner loop's vec4 reads of `Ws` are contiguous across a warp and those of
 * `As` are broadcasts). Rows of `As`/`Ws` are padded by 4 floats to spread
 * the transposed stores over banks.
 *
 * Variants: `vec4` (K and N multiples of 4: vec4 loads of A and W, vec4
 * stores of C) or scalar loads and stores with a bounds check per element;
 * `f16` reads W as f16 (`shader-f16`), converting to f32 before it is staged
 * (the products and sums stay f32). Bias is a runtime flag (`U.hasBias`).
 *
 * Reference: the classic shared-memory + register-blocked SGEMM (Volkov &
 * Demmel 2008; NVIDIA CUTLASS "SIMT" GEMM); tfjs-backend-webgpu
 * `matmul_packed_webgpu.ts` for the same idea in WGSL.
 *
 * @module
 */

/** Everything baked into one matmul shader. */
export interface MatMulConfig {
  /** Rows of C per workgroup (multiple of 4·(BM/TM)). */
  BM: number;
  /** Columns of C per workgroup. */
  BN: number;
  /** K per staged slice (multiple of 4). */
  BK: number;
  /** Rows per thread (multiple of 4). */
  TM: number;
  /** Columns per thread (multiple of 4). */
  TN: number;
  /** K % 4 == 0 and N % 4 == 0: vec4 loads and stores. */
  vec4: boolean;
  /** W is stored as f16. */
  f16: boolean;
}

/** Threads per workgroup of every matmul shader. */
export const MATMUL_THREADS = 256;

/** @returns the pipeline cache key of a config. */
export function matMulKey(c: MatMulConfig): string {
  return `matmul_nt_${c.BM}x${c.BN}x${c.BK}_${c.TM}x${c.TN}_` +
    `${c.vec4 ? "v4" : "s"}_${c.f16 ? "h" : "f"}`;
}

/** @returns bytes of workgroup memory a config uses. */
export function matMulWorkgroupBytes(c: MatMulConfig): number {
  return 4 * c.BK * (c.BM + 4 + c.BN + 4);
}

/**
 * Checks that a config tiles its workgroup exactly.
 *
 * @param c the config.
 * @throws Error naming the field that does not fit.
 */
export function checkMatMulConfig(c: MatMulConfig): void {
  const bad = (what: string) => {
    throw new Error(`matMulNT tuning: ${what}, received ${JSON.stringify(c)}`);
  };
  if ((c.BM / c.TM) * (c.BN / c.TN) !== MATMUL_THREADS) {
    bad(`expected (BM/TM)·(BN/TN) = ${MATMUL_THREADS}`);
  }
  if (c.TM % 4 || c.TN % 4 || c.BK % 4 || c.BM % c.TM || c.BN % c.TN) {
    bad("expected TM, TN, BK multiples of 4 dividing BM, BN");
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * The matmul shader. Bindings: 0 C (out), 1 A, 2 W, 3 bias, 4 uniforms
 * (M, N, K, hasBias). Dispatch (⌈N/BN⌉, ⌈M/BM⌉, 1).
 *
 * @param c the config.
 * @returns WGSL text.
 */
export function matMulShader(c: MatMulConfig): string {
  const { BM, BN, BK, TM, TN } = c;
  const TY = BM / TM, TX = BN / TN; // threads along rows / columns
  const SA = BM / 4 + 1, SB = BN / 4 + 1; // padded row strides, in vec4
  const KQ = BK / 4; // k quads per slice
  const aBlocks = (BM / 4) * KQ, wBlocks = (BN / 4) * KQ;
  const perThread = Math.ceil((aBlocks + wBlocks) / MATMUL_THREADS);
  const wt = c.f16 ? "f16" : "f32";
  const v = c.vec4;
  const out = [];
  if (c.f16) out.push("enable f16;");
  out.push(`
struct Uniforms { M: u32, N: u32, K: u32, hasBias: u32, kPer: u32 };
@group(0) @binding(0) var<storage, read_write> C: array<${
    v ? "vec4<f32>" : "f32"
  }>;
@group(0) @binding(1) var<storage, read> A: array<${v ? "vec4<f32>" : "f32"}>;
@group(0) @binding(2) var<storage, read> W: array<${v ? `vec4<${wt}>` : wt}>;
@group(0) @binding(3) var<storage, read> bias: array<${
    v ? "vec4<f32>" : "f32"
  }>;
@group(0) @binding(4) var<uniform> U: Uniforms;

var<workgroup> As: array<vec4<f32>, ${BK * SA}>;
var<workgroup> Ws: array<vec4<f32>, ${BK * SB}>;

// 4 consecutive k of one row of A (rows >= M and k >= kEnd read as 0).
fn loadA(row: u32, k: u32, kEnd: u32) -> vec4<f32> {
  if (row >= U.M) { return vec4<f32>(0.0); }
  ${
    v
      ? `if (k >= kEnd) { return vec4<f32>(0.0); }
  return A[(row * U.K + k) / 4u];`
      : `var r = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (k + j < kEnd) { r[j] = A[row * U.K + k + j]; }
  }
  return r;`
  }
}

// The same for W (N, K), converted to f32.
fn loadW(row: u32, k: u32, kEnd: u32) -> vec4<f32> {
  if (row >= U.N) { return vec4<f32>(0.0); }
  ${
    v
      ? `if (k >= kEnd) { return vec4<f32>(0.0); }
  return vec4<f32>(W[(row * U.K + k) / 4u]);`
      : `var r = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (k + j < kEnd) { r[j] = f32(W[row * U.K + k + j]); }
  }
  return r;`
  }
}
`);
  // Staging: block q < aBlocks is A's 4×4 block (row quad q / KQ, k quad
  // q % KQ); the rest are W's. Each thread owns `perThread` blocks.
  const stage = range(perThread).map((p) => {
    const q = `(lid + ${p * MATMUL_THREADS}u)`;
    return { p, q };
  });
  out.push(`
@compute @workgroup_size(${MATMUL_THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row0 = wg.y * ${BM}u;
  let col0 = wg.x * ${BN}u;
  let tx = lid % ${TX}u;
  let ty = lid / ${TX}u;
${
    stage.map(({ p }) =>
      range(4).map((j) => `  var s${p}_${j} = vec4<f32>(0.0);`).join("\n")
    ).join("\n")
  }
${
    range(TM).map((i) =>
      range(TN / 4).map((h) => `  var c${i}_${h} = vec4<f32>(0.0);`).join("\n")
    ).join("\n")
  }
  // Split K: workgroup z sums k in [kBeg, kEnd) into its own slice of C.
  let kBeg = wg.z * U.kPer;
  let kEnd = min(kBeg + U.kPer, U.K);
  let nTiles = (kEnd - kBeg + ${BK - 1}u) / ${BK}u;
  for (var t = 0u; t <= nTiles; t++) {
    let k0 = kBeg + t * ${BK}u;
    if (t > 0u) {
      workgroupBarrier();
${
    stage.map(({ p, q }) => `
      {
        let q = ${q};
        if (q < ${aBlocks}u) {
          let base = (q % ${KQ}u) * 4u * ${SA}u + q / ${KQ}u;
${
      range(4).map((j) =>
        `          As[base + ${
          j * SA
        }u] = vec4<f32>(s${p}_0[${j}], s${p}_1[${j}], s${p}_2[${j}], s${p}_3[${j}]);`
      ).join("\n")
    }
        } else if (q < ${aBlocks + wBlocks}u) {
          let qw = q - ${aBlocks}u;
          let base = (qw % ${KQ}u) * 4u * ${SB}u + qw / ${KQ}u;
${
      range(4).map((j) =>
        `          Ws[base + ${
          j * SB
        }u] = vec4<f32>(s${p}_0[${j}], s${p}_1[${j}], s${p}_2[${j}], s${p}_3[${j}]);`
      ).join("\n")
    }
        }
      }`).join("")
  }
      workgroupBarrier();
    }
    if (t < nTiles) {
${
    stage.map(({ p, q }) => `
      {
        let q = ${q};
        if (q < ${aBlocks}u) {
          let r = row0 + (q / ${KQ}u) * 4u;
          let k = k0 + (q % ${KQ}u) * 4u;
${
      range(4).map((j) => `          s${p}_${j} = loadA(r + ${j}u, k, kEnd);`)
        .join("\n")
    }
        } else if (q < ${aBlocks + wBlocks}u) {
          let qw = q - ${aBlocks}u;
          let r = col0 + (qw / ${KQ}u) * 4u;
          let k = k0 + (qw % ${KQ}u) * 4u;
${
      range(4).map((j) => `          s${p}_${j} = loadW(r + ${j}u, k, kEnd);`)
        .join("\n")
    }
        }
      }`).join("")
  }
    }
    if (t > 0u) {
      for (var kk = 0u; kk < ${BK}u; kk++) {
${
    range(TM / 4).map((g) =>
      `        let a${g} = As[kk * ${SA}u + ${g * TY}u + ty];`
    ).join("\n")
  }
${
    range(TN / 4).map((h) =>
      `        let b${h} = Ws[kk * ${SB}u + ${h * TX}u + tx];`
    ).join("\n")
  }
${
    range(TM).map((i) =>
      range(TN / 4).map((h) =>
        `        c${i}_${h} = fma(vec4<f32>(a${i >> 2}[${
          i & 3
        }]), b${h}, c${i}_${h});`
      ).join("\n")
    ).join("\n")
  }
      }
    }
  }
${epilogue(c, TY, TX)}
}
`);
  return out.join("\n");
}

/**
 * Writes the TM × TN block (+ bias, in the first K slice only) with bounds
 * checks, into slice z of C (rows z·M ..).
 */
function epilogue(c: MatMulConfig, TY: number, TX: number): string {
  const lines: string[] = [
    "  let zRow = wg.z * U.M;",
    "  let addBias = U.hasBias != 0u && wg.z == 0u;",
  ];
  for (let i = 0; i < c.TM; i++) {
    const row = `row0 + ${(i >> 2) * 4 * TY + (i & 3)}u + 4u * ty`;
    lines.push(`  {\n    let r = ${row};\n    if (r < U.M) {`);
    for (let h = 0; h < c.TN / 4; h++) {
      const col = `col0 + ${h * 4 * TX}u + 4u * tx`;
      if (c.vec4) {
        lines.push(`      {
        let cc = ${col};
        if (cc < U.N) {
          var o = c${i}_${h};
          if (addBias) { o += bias[cc / 4u]; }
          C[((zRow + r) * U.N + cc) / 4u] = o;
        }
      }`);
      } else {
        lines.push(`      {
        let cc = ${col};
        for (var j = 0u; j < 4u; j++) {
          if (cc + j < U.N) {
            var o = c${i}_${h}[j];
            if (addBias) { o += bias[cc + j]; }
            C[(zRow + r) * U.N + cc + j] = o;
          }
        }
      }`);
      }
    }
    lines.push(`    }\n  }`);
  }
  return lines.join("\n");
}

/**
 * f32 → f16 conversion of a weight: bindings 0 out (`array<vec2<f16>>`,
 * ⌈size/2⌉ pairs), 1 in (`array<f32>`), 2 uniforms (size). Dispatch
 * (g, 1, 1) for any g ≥ 1: each thread converts pairs i, i + 256·g, …
 * (the last pair is padded with 0).
 *
 * @returns WGSL text.
 */
export function toF16Shader(): string {
  return `enable f16;
struct Uniforms { size: u32 };
@group(0) @binding(0) var<storage, read_write> out: array<vec2<f16>>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> U: Uniforms;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let pairs = (U.size + 1u) / 2u;
  for (var i = gid.x; i < pairs; i += nwg.x * 256u) {
    var hi = 0.0;
    if (2u * i + 1u < U.size) { hi = x[2u * i + 1u]; }
    out[i] = vec2<f16>(f16(x[2u * i]), f16(hi));
  }
}
`;
}
