import assert from "node:assert/strict";
import { currentReadmeSettings, README_PATH, readmeSettings } from "./settings_readme.ts";

Deno.test("README's settings list is the one generated from SETTINGS (else: deno task settings:readme)", async () => {
  const readme = await Deno.readTextFile(README_PATH);
  assert.equal(
    currentReadmeSettings(readme),
    await readmeSettings(),
    "README.md's settings list is out of date: run `deno task settings:readme`",
  );
  assert.match(
    await readmeSettings(),
    /^\| `--max N` +\| CPU cores \(start\); 15 \(serve\); 15 \(aws\) +\|/m,
  );
});
