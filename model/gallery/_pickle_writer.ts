/**
 * Test helper: writes the pickles and zip archives `torch.save` writes, opcode by opcode, so
 * tests can build PyTorch files without Python. Mirrors CPython's pickle protocol 2 (and the
 * protocol 4 opcodes torch may use) as documented in `pickletools`.
 * @module
 */
import { zipSync } from "fflate";

/** A tensor to write: raw float32 storage plus a view on it. */
export interface TensorSpec {
  readonly storage: number[];
  readonly key: string;
  readonly offset?: number;
  readonly size: number[];
  readonly stride: number[];
  readonly storageType?: string;
}

/** Appends pickle opcodes. */
export class PickleWriter {
  readonly out: number[] = [];
  private memo = 0;

  constructor(readonly protocol: 2 | 4 = 2) {
    this.out.push(0x80, protocol);
  }

  op(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }

  str(text: string): this {
    const bytes = new TextEncoder().encode(text);
    if (this.protocol >= 4 && bytes.length < 256) this.op(0x8c, bytes.length);
    else this.op(0x58, ...u32(bytes.length));
    this.op(...bytes);
    return this.put();
  }

  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    return this.op(0x4a, ...u32(n >>> 0));
  }

  global(module: string, name: string): this {
    if (this.protocol >= 4) {
      this.str(module).str(name);
      return this.op(0x93).put();
    }
    this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    return this.put();
  }

  put(): this {
    if (this.protocol >= 4) this.op(0x94);
    else this.op(0x71, this.memo & 0xff);
    this.memo++;
    return this;
  }

  intTuple(values: number[]): this {
    this.op(0x28);
    for (const v of values) this.int(v);
    return this.op(0x74);
  }

  tensor(spec: TensorSpec): this {
    this.global("torch._utils", "_rebuild_tensor_v2").op(0x28); // MARK args
    this.op(0x28).str("storage").global("torch", spec.storageType ?? "FloatStorage")
      .str(spec.key).str("cpu").int(spec.storage.length).op(0x74).op(0x51); // pid, BINPERSID
    this.int(spec.offset ?? 0).intTuple(spec.size).intTuple(spec.stride).op(0x89); // NEWFALSE
    this.global("collections", "OrderedDict").op(0x29, 0x52); // OrderedDict()
    return this.op(0x74, 0x52); // TUPLE, REDUCE
  }

  stop(): Uint8Array {
    return new Uint8Array([...this.out, 0x2e]);
  }
}

function u32(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
}

/** `[embeddings, names]` as the course's data.pt lays it out (lists, APPENDS). */
export function coursePickle(tensors: TensorSpec[], names: string[], protocol: 2 | 4 = 2) {
  const w = new PickleWriter(protocol);
  w.op(0x5d).put().op(0x28); // EMPTY_LIST, MARK
  w.op(0x5d).put().op(0x28);
  for (const t of tensors) w.tensor(t);
  w.op(0x65); // APPENDS
  w.op(0x5d).put().op(0x28);
  for (const n of names) w.str(n);
  w.op(0x65, 0x65);
  return w.stop();
}

/** A torch.save zip: `<prefix>/data.pkl`, `<prefix>/data/<key>` storages, `<prefix>/version`. */
export function torchZip(
  pickle: Uint8Array,
  storages: { key: string; values: number[] }[],
  prefix = "archive",
  extra: Record<string, Uint8Array> = {},
): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = {
    [`${prefix}/data.pkl`]: [pickle, { level: 0 }],
    [`${prefix}/version`]: [new TextEncoder().encode("3\n"), { level: 0 }],
  };
  for (const { key, values } of storages) {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    files[`${prefix}/data/${key}`] = [bytes, { level: 0 }];
  }
  for (const [name, bytes] of Object.entries(extra)) files[name] = [bytes, { level: 0 }];
  return zipSync(files);
}
