/**
 * The import direction, checked from the import graph of every module in the repository: what
 * the README's layout table promises (imports run downwards only; runtime code never reaches
 * into the test and benchmark harness; adapters are chosen only where processes are composed;
 * no `_`-private module is imported from another folder; no two folders import each other).
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";

const ROOT = normalize(new URL("..", import.meta.url).pathname);

/** Every folder below the harness (which may import them all). */
const BELOW_HARNESS = [
  "service",
  "web",
  "worker",
  "controller",
  "sim",
  "protocol",
  "model",
  "cloud",
  "internal",
];

/**
 * Which top-level folders each folder's runtime modules may import (besides itself). Test,
 * benchmark and testdata modules beside the code may also import `testing/`.
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  // Small helpers (option merging, range checks, quantiles) every folder may import.
  internal: [],
  cloud: ["internal"],
  model: ["internal"],
  protocol: ["cloud", "internal"],
  controller: ["cloud", "internal"],
  // protocol: the worker's log events, which the validation reads back (sim/log_lines.ts).
  sim: ["controller", "protocol", "cloud", "internal"],
  web: ["protocol", "cloud", "internal"],
  worker: ["protocol", "cloud", "model", "internal"],
  // sim: `deno task aws plan` prices a workload by simulating it with the controller's policy.
  service: ["web", "worker", "controller", "sim", "protocol", "model", "cloud", "internal"],
  // The harness: benchmarks, the load generator, and what tests and benchmarks share.
  bench: ["testing", ...BELOW_HARNESS],
  testing: ["bench", ...BELOW_HARNESS],
  tests: ["testing", "bench", ...BELOW_HARNESS],
};

/** Folders whose modules are the harness, not the service. */
const HARNESS = new Set(["bench", "testing", "tests"]);

/** Where adapters live; only these folders' runtime modules may import them. */
const ADAPTERS = ["cloud/aws/", "cloud/local/"];
const ADAPTER_USERS = new Set(["cloud", "service"]);

interface Edge {
  readonly from: string;
  readonly to: string;
}

function listModules(dir = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(join(ROOT, dir))) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      if (entry.name.startsWith(".") || ["node_modules", "data", "out", "docs"].includes(path)) {
        continue;
      }
      out.push(...listModules(path));
    } else if (entry.isFile && /\.tsx?$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Relative specifiers of static imports, re-exports and dynamic imports with a literal. */
function importsOf(path: string): string[] {
  // Comments and template strings (a probe script written to disk) hold imports of their own;
  // they are not edges.
  const text = Deno.readTextFileSync(join(ROOT, path))
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "")
    .replace(/`[^`]*`/g, "``");
  const specifiers: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(["'])(\.{1,2}\/[^"']+)\1/gm;
  for (const match of text.matchAll(re)) {
    specifiers.push(normalize(join(dirname(path), match[2])));
  }
  return specifiers;
}

/** Tests, benchmarks, fuzz and test-support modules beside the code, and `testdata/`. */
function isTestSupport(path: string): boolean {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return /_(test|bench)\.ts$/.test(base) || base.startsWith("_test") ||
    base.startsWith("_fuzz") || path.includes("/testdata/");
}

const top = (path: string) => path.split("/")[0];
const MODULES = listModules();
const EDGES: Edge[] = MODULES.flatMap((from) => importsOf(from).map((to) => ({ from, to })));
const describe = (edges: Edge[]) => edges.map((e) => `${e.from} -> ${e.to}`).join("\n");

Deno.test("import graph: every relative import names a module that exists", () => {
  const modules = new Set(MODULES);
  const missing = EDGES.filter((e) => /\.tsx?$/.test(e.to) && !modules.has(e.to));
  assert.equal(describe(missing), "");
});

Deno.test("import graph: every module's folder is in the layout table", () => {
  const unknown = MODULES.filter((m) => m.includes("/") && !(top(m) in MAY_IMPORT));
  assert.deepEqual(unknown, []);
});

/** Edges from a module to a folder its folder may not import. */
function layerViolations(edges: readonly Edge[]): Edge[] {
  return edges.filter((e) => {
    const [from, to] = [top(e.from), top(e.to)];
    if (from === to || !(from in MAY_IMPORT)) return false;
    const allowed = MAY_IMPORT[from];
    if (isTestSupport(e.from) && !HARNESS.has(from)) {
      return !allowed.includes(to) && to !== "testing";
    }
    return !allowed.includes(to);
  });
}

/** Runtime edges into an adapter from above the ports (anywhere but cloud/ and service/). */
function adapterViolations(edges: readonly Edge[]): Edge[] {
  return edges.filter((e) =>
    !isTestSupport(e.from) && !HARNESS.has(top(e.from)) && !ADAPTER_USERS.has(top(e.from)) &&
    ADAPTERS.some((a) => e.to.startsWith(a))
  );
}

/** Edges into another folder's `_`-private module or `testdata/`. */
function privateViolations(edges: readonly Edge[]): Edge[] {
  return edges.filter((e) => {
    const base = e.to.slice(e.to.lastIndexOf("/") + 1);
    if (base.startsWith("_") && dirname(e.to) !== dirname(e.from)) return true;
    const testdata = e.to.indexOf("/testdata/");
    return testdata >= 0 && !e.from.startsWith(e.to.slice(0, testdata + 1));
  });
}

/** Whether `goal` is reachable from `start` in `graph`. */
function reaches(graph: Map<string, Set<string>>, start: string, goal: string): boolean {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const at = stack.pop()!;
    if (at === goal) return true;
    if (seen.has(at)) continue;
    seen.add(at);
    stack.push(...(graph.get(at) ?? []));
  }
  return false;
}

function graphOf(pairs: Iterable<readonly [string, string]>): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const [from, to] of pairs) {
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(to);
  }
  return graph;
}

/** Edges that lie on an import cycle between modules. */
function moduleCycles(edges: readonly Edge[]): Edge[] {
  const graph = graphOf(edges.map((e) => [e.from, e.to] as const));
  return edges.filter((e) => reaches(graph, e.to, e.from));
}

/**
 * Pairs of folders whose runtime modules import each other, at full depth (model/convert and
 * model/detect are separate folders). A folder's own top-level modules may serve the folders
 * inside it (model/face_geometry.ts for model/detect/), so edges between a folder and its
 * subfolders are left out.
 */
function folderLoops(edges: readonly Edge[]): string[] {
  const graph = graphOf(
    edges
      .filter((e) => !isTestSupport(e.from) && !HARNESS.has(top(e.from)))
      .map((e) => [dirname(e.from), dirname(e.to)] as const)
      .filter(([from, to]) =>
        from !== to && !from.startsWith(`${to}/`) && !to.startsWith(`${from}/`)
      ),
  );
  return [...graph].flatMap(([from, tos]) =>
    [...tos].filter((to) => reaches(graph, to, from)).map((to) => `${from} <-> ${to}`)
  );
}

Deno.test("import graph: runtime modules import only the folders below theirs", () => {
  assert.equal(describe(layerViolations(EDGES)), "");
});

Deno.test("import graph: only cloud/ and service/ runtime modules import an adapter", () => {
  assert.equal(describe(adapterViolations(EDGES)), "");
});

Deno.test("import graph: no module imports another folder's _-private module or testdata", () => {
  assert.equal(describe(privateViolations(EDGES)), "");
});

Deno.test("import graph: no module imports itself through others (no import cycles)", () => {
  assert.equal(describe(moduleCycles(EDGES)), "");
});

Deno.test("import graph: no two sibling folders of runtime modules import each other", () => {
  assert.deepEqual(folderLoops(EDGES), []);
});

Deno.test("import graph: the checks see this repository's imports and catch planted violations", () => {
  // If the regular expression stopped matching, every check above would pass vacuously.
  assert.ok(EDGES.length > 500, `only ${EDGES.length} imports found`);
  assert.ok(EDGES.some((e) => e.from === "web/app.ts" && e.to === "protocol/mod.ts"));
  assert.ok(EDGES.some((e) => e.from === "service/worker.ts" && e.to.startsWith("worker/")));
  const planted = (from: string, to: string) => [...EDGES, { from, to }];
  assert.equal(layerViolations(planted("web/app.ts", "worker/worker_loop.ts")).length, 1);
  assert.equal(layerViolations(planted("model/embed.ts", "testing/datasets.ts")).length, 1);
  assert.equal(layerViolations(planted("internal/quantile.ts", "cloud/errors.ts")).length, 1);
  assert.equal(layerViolations(planted("cloud/fleet.ts", "internal/mod.ts")).length, 0);
  assert.equal(layerViolations(planted("model/embed_test.ts", "testing/datasets.ts")).length, 0);
  assert.equal(adapterViolations(planted("worker/worker_loop.ts", "cloud/local/x.ts")).length, 1);
  assert.equal(privateViolations(planted("bench/x.ts", "model/image/_codecs.ts")).length, 1);
  assert.equal(privateViolations(planted("web/x_test.ts", "cloud/aws/testdata/y.ts")).length, 1);
  assert.ok(moduleCycles(planted("cloud/fleet.ts", "web/app.ts")).length >= 2);
  assert.deepEqual(folderLoops(planted("model/specs.ts", "model/detect/ssd.ts")), []);
  const loop = [
    ...planted("model/convert/types.ts", "model/detect/ssd.ts"),
    { from: "model/detect/ssd.ts", to: "model/convert/registry.ts" },
  ];
  assert.ok(folderLoops(loop).includes("model/convert <-> model/detect"));
});
