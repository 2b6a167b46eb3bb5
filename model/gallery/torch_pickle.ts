/**
 * A small, safe reader for PyTorch's `torch.save` zip archives: `<prefix>/data.pkl` (a pickle,
 * protocol 2–5) whose persistent ids reference raw storages in `<prefix>/data/<key>`.
 *
 * Safe means: pickle is a program, and Python's unpickler runs whatever globals it names. This
 * reader executes nothing. It implements only the data opcodes torch needs, resolves only a
 * whitelist of globals (`torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`,
 * `collections.OrderedDict`, and the `torch.*Storage` type names) to inert markers, and reads
 * tensors itself from the storage bytes with bounds checks. Anything else, an unknown opcode or
 * any other global (`os.system`, `builtins.eval`, ...), is refused with its name. Sizes are
 * bounded by the named limits below before anything is allocated.
 * @module
 */
import { unzipSync } from "fflate";
import { TorchFileError } from "./errors.ts";

/** Largest archive accepted, in bytes (compressed or not). */
export const TORCH_FILE_BYTES_MAX = 512 * 1024 * 1024;
/** Most bytes all archive entries may expand to together. */
export const TORCH_UNZIPPED_BYTES_MAX = 512 * 1024 * 1024;
/** Most entries in the archive (one per storage, plus a few bookkeeping files). */
export const TORCH_ZIP_ENTRIES_MAX = 200_010;
/** Largest `data.pkl` accepted. */
export const PICKLE_BYTES_MAX = 64 * 1024 * 1024;
/** Most elements in one tensor. */
export const TENSOR_ELEMENTS_MAX = 64 * 1024 * 1024;
/** Most dimensions of one tensor. */
export const TENSOR_RANK_MAX = 8;

/** A dense float32 tensor copied out of its storage (contiguous, row-major). */
export class TorchTensor {
  /**
   * @param shape the tensor's sizes
   * @param data its elements, row-major
   */
  constructor(readonly shape: readonly number[], readonly data: Float32Array) {}
}

/** A storage referenced by a persistent id (`('storage', type, key, location, numel)`). */
export class TorchStorage {
  /**
   * @param type the storage class name, e.g. `FloatStorage`
   * @param key the entry name under `<prefix>/data/`
   * @param numel elements in the storage
   * @param bytes the storage's raw bytes, when the archive holds them
   */
  constructor(
    readonly type: string,
    readonly key: string,
    readonly numel: number,
    readonly bytes: Uint8Array | undefined,
  ) {}
}

/** A whitelisted global, resolved to an inert marker. */
export class PickleGlobal {
  /**
   * @param module e.g. `torch._utils`
   * @param name e.g. `_rebuild_tensor_v2`
   */
  constructor(readonly module: string, readonly name: string) {}

  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A value read from a pickle. Lists and tuples are arrays (tuples frozen); dicts are Maps. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | TorchTensor
  | TorchStorage
  | PickleGlobal;

const STORAGE_GLOBALS = new Set([
  "FloatStorage",
  "DoubleStorage",
  "HalfStorage",
  "BFloat16Storage",
  "LongStorage",
  "IntStorage",
  "ShortStorage",
  "CharStorage",
  "ByteStorage",
  "BoolStorage",
]);
const CALLABLE_GLOBALS = new Set([
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "collections.OrderedDict",
]);

function resolveGlobal(module: string, name: string): PickleGlobal {
  if (CALLABLE_GLOBALS.has(`${module}.${name}`)) return new PickleGlobal(module, name);
  if (module === "torch" && STORAGE_GLOBALS.has(name)) return new PickleGlobal(module, name);
  throw new TorchFileError(
    `the pickle references the global ${module}.${name}, which is not on the whitelist ` +
      `(tensors, storages, OrderedDict); a file that needs it may run arbitrary code, so it is ` +
      `not loaded`,
  );
}

/** Options for {@linkcode unpickle}. */
export interface UnpickleOptions {
  /**
   * Resolves a persistent id (BINPERSID); without it, persistent ids are refused.
   * @default {undefined}
   */
  readonly persistentLoad?: (pid: PickleValue) => PickleValue;
}

/**
 * Reads a pickle (protocol 2–5) restricted to data opcodes and whitelisted torch globals.
 *
 * @param bytes the pickle
 * @param options persistent id resolver
 * @returns the unpickled value
 * @throws {TorchFileError} for unsupported or unsafe content, truncation, or limits exceeded
 * @example
 * ```ts
 * unpickle(new Uint8Array([0x80, 2, 0x4b, 7, 0x2e])); // 7
 * ```
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PickleValue {
  if (bytes.length > PICKLE_BYTES_MAX) {
    throw new TorchFileError(`data.pkl has ${bytes.length} bytes, more than PICKLE_BYTES_MAX`);
  }
  return new Unpickler(bytes, options).run();
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Unpickler {
  private pos = 0;
  private readonly stack: PickleValue[] = [];
  // Stack heights at each MARK (CPython's metastack), so finding the mark is O(1).
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly options: UnpickleOptions) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PickleValue {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      if (op === 0x2e) return this.finish(); // STOP
      try {
        this.step(op);
      } catch (error) {
        if (error instanceof TorchFileError) {
          throw new TorchFileError(
            `${error.problem} (pickle opcode 0x${op.toString(16)} at byte ${at})`,
          );
        }
        throw error;
      }
    }
  }

  private finish(): PickleValue {
    if (this.stack.length !== 1 || this.marks.length !== 0) {
      throw new TorchFileError(
        `pickle ended with ${this.stack.length} values and ${this.marks.length} marks on the ` +
          `stack, not 1 value`,
      );
    }
    return this.stack.pop()!;
  }

  private step(op: number): void {
    switch (op) {
      case 0x80: // PROTO
        if (this.u8() > 5) throw new TorchFileError("pickle protocol above 5");
        return;
      case 0x95: // FRAME: framing only groups reads; the length is informational
        this.take(8);
        return;
      case 0x28: // MARK
        this.marks.push(this.stack.length);
        return;
      case 0x30: // POP
        this.pop();
        return;
      case 0x31: // POP_MARK
        this.popMark();
        return;
      case 0x32: // DUP
        return this.push(this.peek());
      case 0x4e: // NONE
        return this.push(null);
      case 0x88: // NEWTRUE
        return this.push(true);
      case 0x89: // NEWFALSE
        return this.push(false);
      case 0x4b: // BININT1
        return this.push(this.u8());
      case 0x4d: // BININT2
        return this.push(this.view.getUint16(this.advance(2), true));
      case 0x4a: // BININT
        return this.push(this.view.getInt32(this.advance(4), true));
      case 0x8a: // LONG1
        return this.push(this.long(this.u8()));
      case 0x8b: // LONG4
        return this.push(this.long(this.view.getInt32(this.advance(4), true)));
      case 0x47: // BINFLOAT (big-endian)
        return this.push(this.view.getFloat64(this.advance(8), false));
      case 0x58: // BINUNICODE
        return this.push(this.text(this.view.getUint32(this.advance(4), true)));
      case 0x8c: // SHORT_BINUNICODE
        return this.push(this.text(this.u8()));
      case 0x8d: // BINUNICODE8
        return this.push(this.text(this.u64()));
      case 0x43: // SHORT_BINBYTES
        return this.push(this.take(this.u8()).slice());
      case 0x42: // BINBYTES
        return this.push(this.take(this.view.getUint32(this.advance(4), true)).slice());
      case 0x5d: // EMPTY_LIST
        return this.push([]);
      case 0x29: // EMPTY_TUPLE
        return this.push(tuple([]));
      case 0x7d: // EMPTY_DICT
        return this.push(new Map());
      case 0x6c: // LIST
        return this.push(this.popMark());
      case 0x74: // TUPLE
        return this.push(tuple(this.popMark()));
      case 0x85: // TUPLE1
        return this.push(tuple(this.popN(1)));
      case 0x86: // TUPLE2
        return this.push(tuple(this.popN(2)));
      case 0x87: // TUPLE3
        return this.push(tuple(this.popN(3)));
      case 0x64: // DICT
        return this.push(this.toDict(new Map(), this.popMark()));
      case 0x61: // APPEND
        return void this.list(this.peekBelow(1)).push(this.pop());
      case 0x65: { // APPENDS
        const items = this.popMark();
        this.list(this.peek()).push(...items);
        return;
      }
      case 0x73: { // SETITEM
        const [key, value] = this.popN(2);
        this.dict(this.peek()).set(key, value);
        return;
      }
      case 0x75: { // SETITEMS
        const items = this.popMark();
        this.toDict(this.dict(this.peek()), items);
        return;
      }
      case 0x71: // BINPUT
        return this.put(this.u8());
      case 0x72: // LONG_BINPUT
        return this.put(this.view.getUint32(this.advance(4), true));
      case 0x94: // MEMOIZE
        return this.put(this.memo.size);
      case 0x68: // BINGET
        return this.push(this.get(this.u8()));
      case 0x6a: // LONG_BINGET
        return this.push(this.get(this.view.getUint32(this.advance(4), true)));
      case 0x63: { // GLOBAL "module\nname\n"
        const module = this.line();
        return this.push(resolveGlobal(module, this.line()));
      }
      case 0x93: { // STACK_GLOBAL
        const [module, name] = this.popN(2);
        if (typeof module !== "string" || typeof name !== "string") {
          throw new TorchFileError("STACK_GLOBAL needs two strings");
        }
        return this.push(resolveGlobal(module, name));
      }
      case 0x52: { // REDUCE
        const [callable, args] = this.popN(2);
        return this.push(reduce(callable, args));
      }
      case 0x51: { // BINPERSID
        const pid = this.pop();
        if (!this.options.persistentLoad) {
          throw new TorchFileError("a persistent id appears but no storage resolver was given");
        }
        return this.push(this.options.persistentLoad(pid));
      }
      default:
        throw new TorchFileError(
          `pickle opcode 0x${op.toString(16).padStart(2, "0")} is not supported by this reader ` +
            `(only data opcodes that torch.save uses are)`,
        );
    }
  }

  private u8(): number {
    return this.bytes[this.advance(1)];
  }

  private u64(): number {
    const at = this.advance(8);
    return this.view.getUint32(at + 4, true) * 2 ** 32 + this.view.getUint32(at, true);
  }

  private advance(n: number): number {
    if (n < 0 || this.pos + n > this.bytes.length) {
      throw new TorchFileError(`the pickle is truncated (needs ${n} more bytes at ${this.pos})`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private take(n: number): Uint8Array {
    const at = this.advance(n);
    return this.bytes.subarray(at, at + n);
  }

  private text(n: number): string {
    try {
      return utf8.decode(this.take(n));
    } catch (error) {
      if (error instanceof TorchFileError) throw error;
      throw new TorchFileError("a pickle string is not valid UTF-8");
    }
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > 256) throw new TorchFileError("GLOBAL name is not terminated");
    const text = this.text(end - this.pos);
    this.pos++;
    return text;
  }

  private long(n: number): number | bigint {
    if (n < 0 || n > 64) throw new TorchFileError(`an integer of ${n} bytes is too long`);
    const raw = this.take(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]);
    if (n > 0 && raw[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }

  private push(value: PickleValue): void {
    this.stack.push(value);
  }

  private pop(): PickleValue {
    if (this.stack.length <= this.floor()) throw new TorchFileError("pickle stack underflow");
    return this.stack.pop()!;
  }

  private peek(): PickleValue {
    return this.peekBelow(0);
  }

  private peekBelow(depth: number): PickleValue {
    const index = this.stack.length - 1 - depth;
    if (index < this.floor()) throw new TorchFileError("pickle stack underflow");
    return this.stack[index];
  }

  /** Values below the innermost MARK belong to an outer frame: never popped before it closes. */
  private floor(): number {
    return this.marks.length ? this.marks[this.marks.length - 1] : 0;
  }

  private popN(n: number): PickleValue[] {
    const out: PickleValue[] = [];
    for (let i = 0; i < n; i++) out.unshift(this.pop());
    return out;
  }

  private popMark(): PickleValue[] {
    const height = this.marks.pop();
    if (height === undefined) throw new TorchFileError("no MARK on the pickle stack");
    return this.stack.splice(height);
  }

  private put(index: number): void {
    this.memo.set(index, this.peek());
  }

  private get(index: number): PickleValue {
    if (!this.memo.has(index)) throw new TorchFileError(`memo slot ${index} was never stored`);
    return this.memo.get(index)!;
  }

  private list(target: PickleValue): PickleValue[] {
    if (!Array.isArray(target) || Object.isFrozen(target)) {
      throw new TorchFileError("APPEND on something that is not a list");
    }
    return target;
  }

  private dict(target: PickleValue): Map<PickleValue, PickleValue> {
    if (!(target instanceof Map)) {
      throw new TorchFileError("SETITEM on something that is not a dict");
    }
    return target;
  }

  private toDict(
    target: Map<PickleValue, PickleValue>,
    items: PickleValue[],
  ): Map<PickleValue, PickleValue> {
    if (items.length % 2 !== 0) throw new TorchFileError("odd number of dict keys and values");
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
    return target;
  }
}

// Tuples are frozen arrays: APPEND refuses them, as Python would.
function tuple(items: PickleValue[]): PickleValue[] {
  return Object.freeze(items) as unknown as PickleValue[];
}

function reduce(callable: PickleValue, args: PickleValue): PickleValue {
  if (!(callable instanceof PickleGlobal)) {
    throw new TorchFileError("REDUCE on something that is not a whitelisted global");
  }
  if (!Array.isArray(args)) throw new TorchFileError("REDUCE arguments are not a tuple");
  switch (callable.qualifiedName) {
    case "collections.OrderedDict":
      if (args.length !== 0) throw new TorchFileError("OrderedDict with arguments");
      return new Map();
    case "torch._utils._rebuild_tensor_v2":
      return rebuildTensor(args);
    case "torch._utils._rebuild_parameter":
      // (data, requires_grad, backward_hooks): a Parameter is its tensor for our purposes.
      if (!(args[0] instanceof TorchTensor)) {
        throw new TorchFileError("_rebuild_parameter without a tensor");
      }
      return args[0];
    default:
      throw new TorchFileError(`${callable.qualifiedName} cannot be called`);
  }
}

function isCount(value: PickleValue): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, meta])`. */
function rebuildTensor(args: readonly PickleValue[]): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (args.length < 4 || !(storage instanceof TorchStorage)) {
    throw new TorchFileError("_rebuild_tensor_v2 without a storage");
  }
  if (storage.type !== "FloatStorage") {
    throw new TorchFileError(
      `tensor of ${storage.type}: only float32 (FloatStorage) tensors are supported`,
    );
  }
  if (
    !isCount(offset) || !Array.isArray(size) || !Array.isArray(stride) ||
    size.length !== stride.length || size.length > TENSOR_RANK_MAX ||
    !size.every(isCount) || !stride.every(isCount)
  ) {
    throw new TorchFileError(
      `tensor layout offset=${String(offset)} size=${String(size)} stride=${String(stride)} ` +
        `is not valid (rank at most TENSOR_RANK_MAX=${TENSOR_RANK_MAX})`,
    );
  }
  const shape = size as number[];
  const strides = stride as number[];
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel > TENSOR_ELEMENTS_MAX) {
    throw new TorchFileError(`tensor of ${numel} elements exceeds TENSOR_ELEMENTS_MAX`);
  }
  const lastIndex = numel === 0
    ? offset
    : shape.reduce((acc, s, i) => acc + (s - 1) * strides[i], offset);
  if (numel > 0 && lastIndex >= storage.numel) {
    throw new TorchFileError(
      `tensor reads element ${lastIndex} of storage ${storage.key}, which holds ${storage.numel}`,
    );
  }
  const source = storage.bytes;
  if (!source) throw new TorchFileError(`storage ${storage.key} has no data in the archive`);
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  const data = new Float32Array(numel);
  const index = new Array<number>(shape.length).fill(0);
  for (let n = 0; n < numel; n++) {
    let element = offset;
    for (let d = 0; d < shape.length; d++) element += index[d] * strides[d];
    data[n] = view.getFloat32(element * 4, true);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return new TorchTensor(Object.freeze([...shape]), data);
}

/** What {@linkcode readTorchArchive} returns. */
export interface TorchArchive {
  /** The unpickled `data.pkl`, with tensors materialised. */
  readonly value: PickleValue;
  /** The archive's top folder (`archive` for files saved as `data.pt`... any name torch used). */
  readonly prefix: string;
}

/**
 * Reads a `torch.save` zip archive (the default format since PyTorch 1.6).
 *
 * @param bytes the file's bytes
 * @returns the unpickled value and the archive prefix
 * @throws {TorchFileError} for a non-zip or legacy file, unsafe or unsupported pickle content,
 *   a missing or short storage, a big-endian archive, or limits exceeded
 * @example
 * ```ts
 * const { value } = readTorchArchive(await Deno.readFile("data.pt"));
 * ```
 */
export function readTorchArchive(bytes: Uint8Array): TorchArchive {
  if (bytes.length > TORCH_FILE_BYTES_MAX) {
    throw new TorchFileError(`${bytes.length} bytes exceeds TORCH_FILE_BYTES_MAX`);
  }
  if (bytes[0] === 0x80 && bytes[1] === 0x02) {
    throw new TorchFileError(
      "this is the legacy (pre-1.6, non-zip) torch.save format, which is not supported; " +
        "re-save it with a recent PyTorch (torch.save(obj, path))",
    );
  }
  const files = unzipBounded(bytes);
  const pickles = Object.keys(files).filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) {
    throw new TorchFileError(
      `expected exactly one <prefix>/data.pkl in the zip, found ${pickles.length}; ` +
        `is this a torch.save file?`,
    );
  }
  const prefix = pickles[0].slice(0, -"/data.pkl".length);
  const byteorder = files[`${prefix}/byteorder`];
  if (byteorder && new TextDecoder().decode(byteorder).trim() !== "little") {
    throw new TorchFileError("the archive was saved on a big-endian machine; not supported");
  }
  const persistentLoad = (pid: PickleValue): PickleValue => {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== "storage") {
      throw new TorchFileError(`unsupported persistent id ${String(pid)}`);
    }
    const [, type, key, , numel] = pid;
    if (!(type instanceof PickleGlobal) || type.module !== "torch") {
      throw new TorchFileError("persistent id without a torch storage type");
    }
    if (typeof key !== "string" || !/^[A-Za-z0-9_]{1,64}$/.test(key) || !isCount(numel)) {
      throw new TorchFileError(`persistent id with key ${String(key)} numel ${String(numel)}`);
    }
    const data = files[`${prefix}/data/${key}`];
    const elementBytes = type.name === "FloatStorage" ? 4 : 1;
    if (data && data.length < numel * elementBytes) {
      throw new TorchFileError(
        `storage ${key} has ${data.length} bytes, less than ${numel} elements need`,
      );
    }
    if (!data && type.name === "FloatStorage") {
      throw new TorchFileError(`storage ${prefix}/data/${key} is missing from the archive`);
    }
    return new TorchStorage(type.name, key, numel, data);
  };
  return { value: unpickle(files[pickles[0]], { persistentLoad }), prefix };
}

function unzipBounded(bytes: Uint8Array): Record<string, Uint8Array> {
  let entries = 0;
  let total = 0;
  try {
    return unzipSync(bytes, {
      filter(file) {
        entries++;
        total += file.originalSize;
        if (entries > TORCH_ZIP_ENTRIES_MAX) {
          throw new TorchFileError(
            `more than TORCH_ZIP_ENTRIES_MAX (${TORCH_ZIP_ENTRIES_MAX}) entries`,
          );
        }
        if (total > TORCH_UNZIPPED_BYTES_MAX) {
          throw new TorchFileError(
            `entries expand to more than TORCH_UNZIPPED_BYTES_MAX (${TORCH_UNZIPPED_BYTES_MAX})`,
          );
        }
        if (file.compression !== 0 && file.compression !== 8) {
          throw new TorchFileError(`${file.name} uses zip compression method ${file.compression}`);
        }
        return true;
      },
    });
  } catch (error) {
    if (error instanceof TorchFileError) throw error;
    throw new TorchFileError(`not a readable zip archive (${(error as Error).message})`);
  }
}
