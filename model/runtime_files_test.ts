import assert from "node:assert/strict";
import { resolve } from "node:path";
import {
  RUNTIME_FILES,
  type RuntimeFileId,
  runtimeFileUrl,
  runtimeModuleSpecifier,
  WASM_DIR_ENV,
} from "./runtime_files.ts";

const IDS = Object.keys(RUNTIME_FILES) as RuntimeFileId[];

Deno.test("runtimeFileUrl finds every run-time file in node_modules when FR_WASM_DIR is unset", () => {
  assert.equal(Deno.env.get(WASM_DIR_ENV), undefined);
  for (const id of IDS) {
    const url = runtimeFileUrl(id);
    assert.ok(url.pathname.includes("/node_modules/"), `${id}: ${url.pathname}`);
    assert.ok(Deno.statSync(url).isFile, `${id}: ${url.pathname}`);
  }
  assert.equal(runtimeModuleSpecifier("utif"), "utif2");
});

Deno.test("runtimeFileUrl and runtimeModuleSpecifier read a package's folder from FR_WASM_DIR, relative to the working directory", () => {
  Deno.env.set(WASM_DIR_ENV, "some/wasm");
  try {
    const dir = resolve("some/wasm");
    assert.equal(runtimeFileUrl("ortWasm").pathname, `${dir}/ort-wasm-simd-threaded.wasm`);
    assert.equal(runtimeFileUrl("heifLoader").pathname, `${dir}/libheif.cjs`);
    assert.equal(runtimeModuleSpecifier("webpLoader"), `file://${dir}/webp_dec.js`);
  } finally {
    Deno.env.delete(WASM_DIR_ENV);
  }
});

Deno.test("RUNTIME_FILES gives each file its own name in a package's folder", () => {
  const names = IDS.map((id) => RUNTIME_FILES[id].name);
  assert.equal(new Set(names).size, names.length);
});
