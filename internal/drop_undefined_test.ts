import assert from "node:assert/strict";
import { dropUndefined } from "./drop_undefined.ts";

Deno.test("dropUndefined lets an undefined option fall back to its default", () => {
  const defaults = { a: 1, b: 2, c: 3 };
  const given: Partial<typeof defaults> = { a: undefined, b: 0 };
  assert.deepEqual({ ...defaults, ...dropUndefined(given) }, { a: 1, b: 0, c: 3 });
  assert.deepEqual(dropUndefined({ x: null, y: undefined }), { x: null });
});
