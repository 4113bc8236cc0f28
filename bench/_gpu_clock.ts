/**
 * The GPU's clock as seen from WebGPU, and a way to bring it up before a
 * measurement.
 *
 * On the lent H200 the driver lowers the SM clock to 345 MHz (from 1980)
 * after a few seconds of low utilisation, and the short bursts of work a
 * benchmark issues between its readbacks do not raise it again:
 * `nvidia-smi` showed 345 MHz through a whole scan bench (BENCHMARKS.md,
 * fifth session). A few hundred ms of sustained work brings it to 1980 MHz
 * within half a second, and it decays over seconds. So every timed
 * measurement is preceded by {@linkcode ClockProbe.warm}, and the probe's
 * rate before and after is recorded next to it.
 *
 * The probe: a compute-bound kernel of known work (independent FMA chains,
 * no memory traffic) timed with `timestamp-query`. Its rate is proportional
 * to the SM clock (it tracked `nvidia-smi`'s clock at a fixed ratio on the
 * H200), so it is reported relative to the fastest rate this process has
 * seen: 1.0 is the highest clock observed, 0.17 is 345 of 1980 MHz.
 *
 * @module
 */

const ITERS = 1024;
const CHAINS = 8;
const WG = 256;
const PER_SUBMIT = 4;
/** Probe submits kept in flight by `warm`. */
const IN_FLIGHT = 3;

/** A clock probe bound to one device. */
export interface ClockProbe {
  /**
   * Keeps the GPU busy for `ms` milliseconds (submits kept in flight back to
   * back), so the driver raises the clock before a measurement.
   *
   * @returns the clock at the end, relative to the fastest seen (0–1].
   */
  warm(ms: number): Promise<number>;
  /** @returns the clock now (one short probe), relative to the fastest seen. */
  sample(): Promise<number>;
  /** FMA rate of the fastest probe so far, in FMAs per second. */
  peak(): number;
}

/**
 * @param device a device with `timestamp-query`.
 * @param groups workgroups per probe dispatch (4096 on a real GPU; a few on
 *   a software adapter).
 * @returns a probe, or null when the device lacks `timestamp-query`.
 */
export function makeClockProbe(
  device: GPUDevice,
  groups = 4096,
): ClockProbe | null {
  if (!device.features.has("timestamp-query")) return null;
  const fmas = groups * WG * CHAINS * ITERS;
  const chains = [...Array(CHAINS).keys()];
  const module = device.createShaderModule({
    label: "clock_probe",
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let s = f32(g.x) * 1e-9;
${chains.map((c) => `  var x${c} = s + ${c}.0;`).join("\n")}
  for (var i = 0u; i < ${ITERS}u; i++) {
${chains.map((c) => `    x${c} = fma(x${c}, 0.999999, 1e-7);`).join("\n")}
  }
  o[g.x] = ${chains.map((c) => `x${c}`).join(" + ")};
}`,
  });
  const pipe = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const out = device.createBuffer({
    size: groups * WG * 4,
    usage: GPUBufferUsage.STORAGE,
  });
  const group = device.createBindGroup({
    layout: pipe.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: out } }],
  });
  const qs = device.createQuerySet({
    type: "timestamp",
    count: 2 * PER_SUBMIT,
  });
  let best = 0;
  // Query results: resolve and read buffers, one pair per submit in flight.
  const BYTES = 16 * PER_SUBMIT;
  const pairs = [...Array(IN_FLIGHT)].map(() => ({
    resolve: device.createBuffer({
      size: BYTES,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    }),
    read: device.createBuffer({
      size: BYTES,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    }),
  }));
  let next = 0;

  /** Submits PER_SUBMIT timed probes; resolves to their FMA rates. */
  const submit = (): Promise<number[]> => {
    const enc = device.createCommandEncoder();
    for (let i = 0; i < PER_SUBMIT; i++) {
      const pass = enc.beginComputePass({
        timestampWrites: {
          querySet: qs,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        },
      });
      pass.setPipeline(pipe);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(groups);
      pass.end();
    }
    // Submits are answered in order and at most IN_FLIGHT are pending, so
    // the pair used IN_FLIGHT submits ago has been read and unmapped.
    const { resolve, read } = pairs[next++ % IN_FLIGHT];
    enc.resolveQuerySet(qs, 0, 2 * PER_SUBMIT, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, BYTES);
    device.queue.submit([enc.finish()]);
    return read.mapAsync(GPUMapMode.READ).then(() => {
      const t = new BigInt64Array(read.getMappedRange().slice(0));
      read.unmap();
      const rates = [...Array(PER_SUBMIT).keys()].map((i) =>
        fmas / (Number(t[2 * i + 1] - t[2 * i]) / 1e9)
      );
      best = Math.max(best, ...rates);
      return rates;
    });
  };
  const relative = (rates: number[]) => Math.max(...rates) / best;

  return {
    async warm(ms) {
      const t0 = performance.now();
      const inFlight: Promise<number[]>[] = [];
      let last: number[] = [];
      do {
        while (inFlight.length < IN_FLIGHT) inFlight.push(submit());
        last = await inFlight.shift()!;
      } while (performance.now() - t0 < ms);
      for (const p of inFlight) last = await p;
      return relative(last);
    },
    async sample() {
      return relative(await submit());
    },
    peak: () => best,
  };
}
