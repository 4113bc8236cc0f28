/**
 * `deno task bench [scan|decode|train|server|gpu|all] [-- extra args]`:
 * runs the project's benches one after another, each printing its table and
 * writing its JSON under bench/results/ (`all` is scan, decode, server, train).
 *
 * - scan: reference / chunked / seed on cpu, wasm, webgpu at (1, L, 256, 16)
 *   (bench/scan.ts);
 * - decode: recurrent decode vs re-running the prefix (bench/decode.ts);
 * - train: training tokens/s on cpu vs wasm (bench/train_throughput.ts);
 * - server: 64 concurrent HTTP clients against `serve` (bench/server.ts);
 * - gpu: the WebGPU scan kernels (bench/scan_gpu.ts; meant for the H200).
 *
 * @module
 */
const BENCHES: Record<string, string[]> = {
  scan: ["bench/scan.ts", "--out=bench/results/scan.json"],
  decode: [
    "bench/decode.ts",
    "--backend",
    "wasm",
    "--models",
    "long",
    "--tokens",
    "1024",
    "--batch",
    "1,8",
    "--prefix-tokens",
    "1024",
    "--ttft-prompt",
    "512",
    "--out",
    "bench/results/decode_wasm.json",
  ],
  train: [
    "bench/train_throughput.ts",
    "--out",
    "bench/results/train_throughput.json",
  ],
  server: ["bench/server.ts", "--out", "bench/results/server.json"],
  gpu: ["bench/scan_gpu.ts", "--out", "bench/results/scan_gpu.json"],
};

/**
 * The preset's flags, less those `extra` sets again (so `deno task bench
 * decode -- --tokens 4` overrides the preset's `--tokens 1024` instead of
 * giving the bench both), then `extra`.
 */
function withOverrides(preset: string[], extra: string[]): string[] {
  const name = (arg: string) => arg.slice(2).split("=")[0];
  const given = new Set(extra.filter((a) => a.startsWith("--")).map(name));
  const kept: string[] = [];
  for (let i = 0; i < preset.length; i++) {
    const arg = preset[i];
    const takesNext = arg.startsWith("--") && !arg.includes("=") &&
      i + 1 < preset.length && !preset[i + 1].startsWith("--");
    if (arg.startsWith("--") && given.has(name(arg))) {
      if (takesNext) i++;
      continue;
    }
    kept.push(arg);
  }
  return [...kept, ...extra];
}

const [which = "all", ...rest] = Deno.args;
// `deno task bench decode -- --tokens 4` hands the "--" through.
const extra = rest[0] === "--" ? rest.slice(1) : rest;
const names = which === "all" ? ["scan", "decode", "server", "train"] : [which];
for (const name of names) {
  const entry = BENCHES[name];
  if (!entry) {
    console.error(
      `bench: expected one of ${
        Object.keys(BENCHES).join(", ")
      } or all, received ${JSON.stringify(name)}`,
    );
    Deno.exit(2);
  }
  const args = withOverrides(entry, extra);
  console.log(`\n## ${name}: deno run -A ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
}
