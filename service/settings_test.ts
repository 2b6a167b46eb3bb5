import assert from "node:assert/strict";
import {
  ConfigError,
  integer,
  list,
  parseSettings,
  pattern,
  replaceBetween,
  settingsHelp,
  settingsMarkdown,
  type SettingsTable,
  textBetween,
} from "./settings.ts";

const TABLE: SettingsTable = {
  size: {
    flag: "size",
    env: "SIZE",
    commands: ["start", "worker"],
    inherit: true,
    default: "3",
    defaultFor: { start: { doc: "twice the cores", text: ({ cores }) => String(2 * cores) } },
    value: integer(1, 100),
    unit: "bytes",
    doc: "a size",
  },
  secret: {
    flag: "secret",
    fileFlag: "secret-file",
    commands: ["start"],
    unset: "none: open",
    value: pattern("S", /^s-\w+$/, "a secret like s-1"),
    doc: "a secret",
  },
  "group.ids": {
    flag: "ids",
    commands: ["start", "worker"],
    inherit: true,
    default: { doc: "none", text: () => "" },
    value: list(pattern("ID", /^i-\d+$/, "an id like i-1"), "ID,ID…"),
    doc: "ids",
  },
};

const noEnv = () => undefined;

Deno.test("parseSettings reads flag, then file, then environment, then the command's default", () => {
  const start = parseSettings(TABLE, "start", [], { env: noEnv, cores: 4 });
  assert.ok(start !== "help");
  assert.equal(start.values.get("size"), 8);
  assert.deepEqual(start.values.get("group.ids"), []);
  assert.equal(start.values.get("secret"), undefined);
  assert.deepEqual([...start.given], []);
  const worker = parseSettings(TABLE, "worker", [], { env: (n) => (n === "SIZE" ? "7" : "") });
  assert.ok(worker !== "help");
  assert.equal(worker.values.get("size"), 7);
  assert.deepEqual([...worker.given], ["size"]);
  const file = parseSettings(TABLE, "start", ["--secret-file", "/f", "--ids", "i-1,i-22"], {
    env: (n) => (n === "SIZE" ? "" : undefined),
    readTextFile: () => "s-abc\nignored",
    cores: 1,
  });
  assert.ok(file !== "help");
  assert.equal(file.values.get("secret"), "s-abc");
  assert.equal(file.values.get("size"), 2, "an empty variable counts as unset");
  assert.deepEqual(file.values.get("group.ids"), ["i-1", "i-22"]);
  assert.equal(parseSettings(TABLE, "worker", ["-h"]), "help");
});

Deno.test("parseSettings names the flag or variable a bad value came from", () => {
  const cases: [string[], (name: string) => string | undefined, RegExp][] = [
    [["--size", "0"], noEnv, /^--size: must be an integer in \[1, 100\], got "0"$/],
    [[], (n) => (n === "SIZE" ? "x" : undefined), /^SIZE: must be an integer/],
    [
      ["--secret", "s-1", "--secret-file", "f"],
      noEnv,
      /^--secret: give --secret or --secret-file, not both$/,
    ],
    [["--ids", "i-1,x"], noEnv, /^--ids: must be an id like i-1, got "x"$/],
    [["--nope"], noEnv, /^--nope: unknown flag; see --help$/],
  ];
  for (const [args, env, message] of cases) {
    assert.throws(
      () => parseSettings(TABLE, "start", args, { env, readTextFile: () => "s-2" }),
      (e) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, message);
        return true;
      },
    );
  }
  assert.throws(
    () => parseSettings(TABLE, "worker", ["--secret", "s-1"], { env: noEnv }),
    /^ConfigError: --secret: only `deno task start` takes it; see --help$/,
  );
  assert.throws(
    () =>
      parseSettings(TABLE, "start", ["--secret-file", "/nope"], {
        env: noEnv,
        readTextFile: () => {
          throw new Deno.errors.NotFound("no such file");
        },
      }),
    /--secret-file: cannot read "\/nope": no such file/,
  );
});

Deno.test("list values format back to the text they parse from", () => {
  const ids = list(pattern("ID", /^i-\d+$/, "an id like i-1"), "ID,ID…");
  assert.equal(ids.format(ids.parse("i-1,,i-2")), "i-1,i-2");
  assert.deepEqual(ids.parse(ids.format(["i-3", "i-4"])), ["i-3", "i-4"]);
});

Deno.test("settingsHelp wraps each setting under its flags with the command's default", () => {
  const help = settingsHelp(TABLE, "start", { "group.": "Group" });
  assert.equal(
    help,
    [
      "Settings (default in parentheses):",
      "  --size N, env SIZE            a size [1..100 bytes] (twice the cores)",
      "  --secret S, --secret-file FILE",
      "                                a secret [a secret like s-1] (none: open)",
      "Group:",
      "  --ids ID,ID…                  ids [comma-separated, each an id like i-1] (none)",
    ].join("\n"),
  );
  assert.doesNotMatch(settingsHelp(TABLE, "worker"), /secret/);
  assert.match(settingsHelp(TABLE, "worker"), /a size \[1\.\.100 bytes\] \(3\)/);
});

Deno.test("settingsMarkdown gives one row per setting with each command's default", () => {
  const table = settingsMarkdown(TABLE);
  assert.match(
    table,
    /^\| `--size N, env SIZE` \| twice the cores \(start\); 3 \(worker\) \| start, worker \(inherited\) \|/m,
  );
  assert.match(table, /^\| `--secret S, --secret-file FILE` \| none: open \| start \|/m);
  assert.equal(table.split("\n").length, 2 + Object.keys(TABLE).length);
});

Deno.test("replaceBetween and textBetween work on the lines between two markers, and refuse without them", () => {
  const text = "a\n<!-- b -->\nold\n<!-- e -->\nz\n";
  const replaced = replaceBetween(text, "<!-- b -->", "<!-- e -->", "\nnew\n");
  assert.equal(replaced, "a\n<!-- b -->\n\nnew\n\n<!-- e -->\nz\n");
  assert.equal(textBetween(replaced, "<!-- b -->", "<!-- e -->"), "\nnew\n");
  assert.throws(() => textBetween("a\n", "<!-- b -->", "<!-- e -->"), RangeError);
  assert.throws(
    () => replaceBetween("<!-- e -->\n<!-- b -->\n", "<!-- b -->", "<!-- e -->", ""),
    RangeError,
  );
});
