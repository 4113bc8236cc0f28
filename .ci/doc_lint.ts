/**
 * `deno doc --lint` on the public entry point, holding the project's own
 * symbols to it: every exported symbol documented, every type the public
 * API names exported. Diagnostics about third-party symbols are set aside —
 * `tf` is the tfjs namespace itself (a thousand undocumented-by-JSDoc
 * symbols), and tfjs / zod types such as `Tensor3D` or `ZodObject` are not
 * this project's to export — and counted in the last line.
 *
 * Usage: deno run -A .ci/doc_lint.ts [mod.ts]
 *
 * @module
 */
const entry = Deno.args[0] ?? "mod.ts";
const { stdout, stderr, code } = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", entry],
  env: { NO_COLOR: "1" },
}).output();
const text = new TextDecoder().decode(stdout) +
  new TextDecoder().decode(stderr);
if (code === 0) {
  console.log(`deno doc --lint ${entry}: clean`);
  Deno.exit(0);
}

/** Names declared in this project's own sources. */
async function ownDeclarations(): Promise<Set<string>> {
  const names = new Set<string>();
  const pattern =
    /\b(?:type|interface|class|enum|const|function)\s+([A-Za-z_$][\w$]*)/g;
  async function walk(dir: string) {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (
        e.isDirectory && !e.name.startsWith(".") && e.name !== "node_modules"
      ) await walk(path);
      else if (e.isFile && e.name.endsWith(".ts")) {
        for (const m of (await Deno.readTextFile(path)).matchAll(pattern)) {
          names.add(m[1]);
        }
      }
    }
  }
  await walk(".");
  return names;
}

const own = await ownDeclarations();
const blocks = text.split(/\n(?=error\[)/).filter((b) =>
  b.startsWith("error[")
);
const kept: string[] = [];
let thirdParty = 0;
for (const block of blocks) {
  const at = block.match(/-->\s+(\S+)/)?.[1] ?? "";
  const ref = block.match(/references private type '([^']+)'/)?.[1];
  const foreignLocation = at.includes("node_modules") || at.includes("/npm/") ||
    /\bfrom "(@tensorflow\/|zod)/.test(block); // the re-exported namespace itself
  const refName = ref?.split(/[.<[]/)[0] ?? "";
  const foreignType = ref !== undefined &&
    (/^[a-z]/.test(refName) || !own.has(refName));
  if (foreignLocation || foreignType) thirdParty++;
  else kept.push(block.trim());
}
for (const block of kept) console.error(block + "\n");
console.log(
  `deno doc --lint ${entry}: ${kept.length} problem(s) in this project's symbols; ${thirdParty} about third-party (tfjs, zod) symbols set aside`,
);
Deno.exit(kept.length ? 1 : 0);
