import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { coursePickle, PickleWriter, torchZip } from "./_pickle_writer.ts";
import { TorchFileError } from "./errors.ts";
import { readTorchArchive, TorchTensor, unpickle } from "./torch_pickle.ts";

const STORAGE = [0, 1, 2, 3, 4, 5];

Deno.test("readTorchArchive rebuilds tensors with offsets and strides from their storages", () => {
  for (const protocol of [2, 4] as const) {
    const pickle = coursePickle(
      [
        { storage: STORAGE, key: "0", size: [1, 3], stride: [3, 1] },
        { storage: STORAGE, key: "0", offset: 1, size: [3], stride: [2] },
        { storage: STORAGE, key: "0", size: [3, 2], stride: [1, 3] }, // a transposed view
        { storage: [7.5], key: "9", size: [], stride: [] }, // a scalar
      ],
      ["Ann", "Bob", "Cy", "Dee"],
      protocol,
    );
    const { value, prefix } = readTorchArchive(
      torchZip(pickle, [{ key: "0", values: STORAGE }, { key: "9", values: [7.5] }], "my_save"),
    );
    assert.equal(prefix, "my_save");
    assert.ok(Array.isArray(value) && value.length === 2);
    const [tensors, names] = value as [TorchTensor[], string[]];
    assert.deepEqual(names, ["Ann", "Bob", "Cy", "Dee"]);
    assert.ok(tensors.every((t) => t instanceof TorchTensor));
    assert.deepEqual(tensors.map((t) => [t.shape, [...t.data]]), [
      [[1, 3], [0, 1, 2]],
      [[3], [1, 3, 5]],
      [[3, 2], [0, 3, 1, 4, 2, 5]],
      [[], [7.5]],
    ], `protocol ${protocol}`);
  }
});

Deno.test("unpickle reads plain data: ints of every width, floats, strings, dicts, memo", () => {
  const w = new PickleWriter(2);
  w.op(0x7d).put().op(0x28); // EMPTY_DICT, MARK
  w.str("small").int(7).str("medium").int(40000).str("negative").op(0x4a, 0xfe, 0xff, 0xff, 0xff);
  w.str("long").op(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x01); // 2^64
  w.str("float").op(0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0); // 1.5 big-endian
  w.str("none").op(0x4e).str("yes").op(0x88).str("again").op(0x68, 1); // BINGET "small"
  w.op(0x75); // SETITEMS
  const value = unpickle(w.stop()) as Map<unknown, unknown>;
  assert.deepEqual(Object.fromEntries(value), {
    small: 7,
    medium: 40000,
    negative: -2,
    long: 2n ** 64n,
    float: 1.5,
    none: null,
    yes: true,
    again: "small",
  });
});

function refusal(bytes: Uint8Array, message: RegExp): void {
  assert.throws(() => unpickle(bytes), (error: unknown) => {
    assert.ok(error instanceof TorchFileError, String(error));
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("unpickle refuses globals outside the whitelist before anything could run", () => {
  const callSystem = new PickleWriter(2).global("os", "system").str("rm -rf /").op(0x85, 0x52);
  refusal(callSystem.stop(), /global os\.system, which is not on the whitelist/);
  refusal(new PickleWriter(2).global("builtins", "eval").stop(), /builtins\.eval/);
  refusal(new PickleWriter(4).global("posix", "system").stop(), /posix\.system/);
  refusal(new PickleWriter(2).global("torch", "load").stop(), /torch\.load/);
  // A whitelisted name is still only a marker: calling a storage type is refused.
  refusal(
    new PickleWriter(2).global("torch", "FloatStorage").op(0x29, 0x52).stop(),
    /torch\.FloatStorage cannot be called/,
  );
});

Deno.test("unpickle refuses opcodes it does not implement and malformed streams", () => {
  refusal(new Uint8Array([0x80, 2, 0x69, 0x2e]), /opcode 0x69 is not supported/); // INST
  refusal(new Uint8Array([0x80, 2, 0x6f, 0x2e]), /opcode 0x6f is not supported/); // OBJ
  refusal(new Uint8Array([0x80, 2, 0x7d, 0x7d, 0x62, 0x2e]), /opcode 0x62/); // BUILD
  refusal(new Uint8Array([0x80, 2, 0x58, 0xff, 0, 0, 0, 0x61]), /truncated/);
  refusal(new Uint8Array([0x80, 2, 0x4b]), /truncated/);
  refusal(new Uint8Array([0x80, 2, 0x68, 5, 0x2e]), /memo slot 5 was never stored/);
  refusal(
    new Uint8Array([0x80, 2, 0x29, 0x4b, 1, 0x61, 0x2e]),
    /APPEND on something that is not a list/,
  );
  refusal(new Uint8Array([0x80, 2, 0x4b, 1, 0x4b, 2, 0x2e]), /2 values and 0 marks/);
  refusal(new Uint8Array([0x80, 2, 0x28, 0x4b, 1, 0x2e]), /1 values and 1 marks/); // MARK left open
  refusal(new Uint8Array([0x80, 2, 0x4b, 1, 0x28, 0x30, 0x2e]), /underflow/); // POP below a MARK
  refusal(new Uint8Array([0x80, 2, 0x65, 0x2e]), /no MARK/);
  refusal(new Uint8Array([0x80, 9, 0x2e]), /protocol above 5/);
  refusal(new Uint8Array([0x80, 2, 0x51, 0x2e]), /underflow/);
  refusal(new Uint8Array([0x80, 2, 0x4e, 0x51, 0x2e]), /no storage resolver/);
});

Deno.test("readTorchArchive refuses tensors that read outside or lack their storage", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "past the end",
      torchZip(
        coursePickle([{ storage: STORAGE, key: "0", offset: 4, size: [3], stride: [1] }], ["A"]),
        [
          { key: "0", values: STORAGE },
        ],
      ),
      /reads element 6 of storage 0, which holds 6/,
    ],
    [
      "missing storage",
      torchZip(coursePickle([{ storage: STORAGE, key: "0", size: [6], stride: [1] }], ["A"]), []),
      /archive\/data\/0 is missing/,
    ],
    [
      "short storage",
      torchZip(coursePickle([{ storage: STORAGE, key: "0", size: [6], stride: [1] }], ["A"]), [
        { key: "0", values: [1, 2] },
      ]),
      /storage 0 has 8 bytes, less than 6 elements need/,
    ],
    [
      "double storage",
      torchZip(
        coursePickle([{
          storage: STORAGE,
          key: "0",
          size: [6],
          stride: [1],
          storageType: "DoubleStorage",
        }], ["A"]),
        [{ key: "0", values: [...STORAGE, ...STORAGE] }],
      ),
      /DoubleStorage: only float32/,
    ],
    [
      "hostile key",
      torchZip(
        coursePickle([{ storage: STORAGE, key: "../x", size: [6], stride: [1] }], ["A"]),
        [],
      ),
      /persistent id with key \.\.\/x/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => readTorchArchive(bytes), message, what);
  }
});

Deno.test("readTorchArchive refuses files that are not torch.save zip archives", () => {
  const pickle = coursePickle([], []);
  assert.throws(() => readTorchArchive(new TextEncoder().encode("hello")), /not a readable zip/);
  assert.throws(() => readTorchArchive(new Uint8Array([0x80, 2, 0x8a, 0x0a])), /legacy .* format/);
  assert.throws(
    () => readTorchArchive(zipSync({ "a.txt": new Uint8Array(1) })),
    /exactly one <prefix>\/data\.pkl .* found 0/,
  );
  assert.throws(
    () => readTorchArchive(zipSync({ "a/data.pkl": pickle, "b/data.pkl": pickle })),
    /found 2/,
  );
  assert.throws(
    () =>
      readTorchArchive(
        torchZip(pickle, [], "archive", { "archive/byteorder": new TextEncoder().encode("big") }),
      ),
    /big-endian/,
  );
  assert.deepEqual(
    readTorchArchive(
      torchZip(pickle, [], "archive", { "archive/byteorder": new TextEncoder().encode("little") }),
    ).value,
    [[], []],
  );
});

// Written by CPython 3.11's pickle.dumps(v, protocol=P) for
// v = {"a": 1, "b": [1.5, -2, 2**70, -(2**40), None, True, False, "héllo", b"\x00\x01", (1, 2), (), []],
//      "c": {"x": (3,)}}: an independent writer to check the reader against.
const CPYTHON_PICKLES: Record<number, string> = {
  4: "8004955d000000000000007d94288c0161944b018c0162945d9428473ff80000000000004afeffffff8a0900000000" +
    "00000000408a060000000000ff4e88898c0668c3a96c6c6f9443020001944b014b028694295d94658c0163947d94" +
    "8c0178944b03859473752e",
  5: "8005955d000000000000007d94288c0161944b018c0162945d9428473ff80000000000004afeffffff8a0900000000" +
    "00000000408a060000000000ff4e88898c0668c3a96c6c6f9443020001944b014b028694295d94658c0163947d94" +
    "8c0178944b03859473752e",
};
const CPYTHON_PROTOCOL_2 =
  "80027d71002858010000006171014b0158010000006271025d710328473ff80000000000004afeffffff8a09000000" +
  "0000000000408a060000000000ff4e8889580600000068c3a96c6c6f7104635f636f646563730a656e636f64650a71" +
  "0558020000000001710658060000006c6174696e3171078671085271094b014b0286710a295d710b655801000000" +
  "63710c7d710d580100000078710e4b0385710f73752e";

function hex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)!.map((h) => parseInt(h, 16)));
}

Deno.test("unpickle reads what CPython's pickle writes at protocols 4 and 5", () => {
  for (const [protocol, text] of Object.entries(CPYTHON_PICKLES)) {
    const value = unpickle(hex(text)) as Map<string, unknown>;
    assert.deepEqual([...value.keys()], ["a", "b", "c"], `protocol ${protocol}`);
    assert.equal(value.get("a"), 1);
    assert.deepEqual(value.get("b"), [
      1.5,
      -2,
      2n ** 70n,
      -(2 ** 40),
      null,
      true,
      false,
      "héllo",
      new Uint8Array([0, 1]),
      [1, 2],
      [],
      [],
    ]);
    assert.deepEqual(Object.fromEntries(value.get("c") as Map<string, unknown>), { x: [3] });
  }
});

Deno.test("unpickle refuses CPython's protocol-2 bytes, which call _codecs.encode", () => {
  refusal(hex(CPYTHON_PROTOCOL_2), /global _codecs\.encode, which is not on the whitelist/);
});

Deno.test("readTorchArchive refuses an archive declaring more than TORCH_UNZIPPED_BYTES_MAX", () => {
  const zip = torchZip(coursePickle([], []), []);
  // Patch every central-directory entry's uncompressed size to 1 GiB, as a zip bomb would.
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let patched = 0;
  for (let i = 0; i + 46 <= zip.length; i++) {
    if (view.getUint32(i, true) === 0x02014b50) {
      view.setUint32(i + 24, 0x40000000, true);
      patched++;
    }
  }
  assert.ok(patched > 0);
  assert.throws(() => readTorchArchive(zip), /expand to more than TORCH_UNZIPPED_BYTES_MAX/);
});
