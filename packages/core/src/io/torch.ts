/**
 * PyTorch checkpoint reader (`torch.save` files: `.pth`, `.pt`, `.bin`) without Python.
 *
 * Two container formats:
 * - zip (torch >= 1.6): `<prefix>/data.pkl` (the object pickle) + `<prefix>/data/<key>` (raw little-endian
 *   storages); persistent ids are `('storage', StorageType, key, location, numel)`.
 * - legacy (torch < 1.6, e.g. 2019 `pytorch_model.bin`): pickles of the magic number, protocol version and
 *   sys_info, then the object pickle (persistent ids `('storage', StorageType, root_key, location, numel,
 *   view_metadata)`), then the pickled list of storage keys, then each storage as an int64 element count
 *   followed by its raw bytes, in the order of that list.
 *
 * The object pickle goes through the restricted unpickler of pickle.ts: only tensors
 * (`torch._utils._rebuild_tensor[_v2|_v3]`, `_rebuild_parameter[_with_state]`), storage types and dtypes,
 * OrderedDict and plain containers are allowed; any other global is refused with an Error naming it.
 * Tensors come out as safetensors.ts's RawTensor (C-order copies of strided views).
 *
 * TorchScript archives (torch.jit.save, e.g. OpenAI's CLIP `ViT-B-32.pt`) are zip files of the same layout whose
 * pickle builds objects of compiled `__torch__.*` classes; those come out as plain dicts of their attributes, so
 * flattenStateDict gives the module's state_dict names. The compiled code is never read or run.
 */
import * as fs from 'fs';
import { RawTensor, decodeTensorBytes, SafetensorsDtype } from './safetensors';
import { ByteSource, bufferSource, dictSet, isPlainDict, PyDict, PyGlobal, unpickle, UnpicklingError } from './pickle';
import { fileSource, looksLikeZip, windowedSource, ZipReader } from './zip';

type TorchDtype = SafetensorsDtype;

const ELEMENT_BYTES: Record<TorchDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** torch storage classes -> dtype. */
const STORAGE_TYPES: Record<string, TorchDtype> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

/** torch dtype objects (`torch.float32` ...) -> dtype. */
const TORCH_DTYPES: Record<string, TorchDtype> = {
  float32: 'F32', float: 'F32', float64: 'F64', double: 'F64', float16: 'F16', half: 'F16', bfloat16: 'BF16',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

interface StorageRef {
  readonly kind: 'torch.storage';
  key: string;
  dtype: TorchDtype;
  numel: number;
  /** For legacy storage views: the root storage and the element offset into it. */
  root?: StorageRef;
  rootOffset?: number;
}

/** A tensor whose storage bytes may not be read yet (legacy files keep them after the pickle). */
class PendingTensor {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
    readonly dtype: TorchDtype,
  ) {}
}

/** What readTorchCheckpoint returns: the pickled object with every tensor as a RawTensor. */
export type TorchObject = unknown;

export function isRawTensor(x: unknown): x is RawTensor {
  return (
    !!x &&
    typeof x === 'object' &&
    Array.isArray((x as RawTensor).shape) &&
    typeof (x as RawTensor).sourceDtype === 'string' &&
    ArrayBuffer.isView((x as RawTensor).data)
  );
}

function callable(pyGlobal: string, call: (args: unknown[], kwargs?: Record<string, unknown>) => unknown, build?: (obj: unknown, state: unknown) => unknown): PyGlobal {
  return { pyGlobal, call, build };
}

function intList(x: unknown, label: string): number[] {
  if (!Array.isArray(x) || !x.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
    throw new Error(`${label} must be a tuple of non-negative integers, found ${JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  }
  return x as number[];
}

function asStorage(x: unknown, fn: string): StorageRef {
  if (!x || (x as StorageRef).kind !== 'torch.storage') throw new Error(`${fn}: first argument must be a storage, found ${x === null ? 'None' : typeof x}`);
  return x as StorageRef;
}

function pending(storage: unknown, offset: unknown, size: unknown, stride: unknown, fn: string, dtype?: TorchDtype): PendingTensor {
  const s = asStorage(storage, fn);
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new Error(`${fn}: storage offset must be a non-negative integer, found ${String(offset)}`);
  const sz = intList(size, `${fn}: size`);
  const st = intList(stride, `${fn}: stride`);
  if (sz.length !== st.length) throw new Error(`${fn}: size ${JSON.stringify(sz)} and stride ${JSON.stringify(st)} have different ranks`);
  return new PendingTensor(s, offset, sz, st, dtype ?? s.dtype);
}

function toDict(pairs: unknown): PyDict {
  const d: PyDict = {};
  if (pairs === undefined) return d;
  if (isPlainDict(pairs)) return Object.assign(d, pairs);
  if (!Array.isArray(pairs)) throw new Error(`expected an iterable of pairs, found ${typeof pairs}`);
  for (const p of pairs) {
    if (!Array.isArray(p) || p.length !== 2) throw new Error('expected (key, value) pairs');
    dictSet(d, p[0], p[1]);
  }
  return d;
}

/** The globals a checkpoint may name (the unpickler's allow-list). Everything else is refused. */
export function torchFindClass(module: string, name: string): PyGlobal | undefined {
  const g = `${module}.${name}`;
  if (module === 'torch' && name in STORAGE_TYPES) return { pyGlobal: g, value: { storageType: STORAGE_TYPES[name] } };
  if ((module === 'torch.storage' || module === 'torch') && name === 'UntypedStorage') return { pyGlobal: g, value: { storageType: 'U8' } };
  if (module === 'torch' && name in TORCH_DTYPES) return { pyGlobal: g, value: { torchDtype: TORCH_DTYPES[name] } };
  switch (g) {
    case 'collections.OrderedDict':
    case 'builtins.dict':
      return callable(g, (args) => toDict(args[0]));
    case 'builtins.list':
      return callable(g, (args) => (args.length ? [...(args[0] as unknown[])] : []));
    case 'builtins.tuple':
    case 'torch.Size':
      return callable(g, (args) => Object.freeze(args.length ? [...(args[0] as unknown[])] : []));
    case 'builtins.set':
    case 'builtins.frozenset':
      return callable(g, (args) => new Set(args.length ? (args[0] as Iterable<unknown>) : []));
    case 'builtins.bytearray':
    case 'builtins.bytes':
    case '_codecs.encode':
      // protocol 2 pickles bytes as _codecs.encode(str, 'latin1')
      return callable(g, (args) => {
        if (args.length === 0) return new Uint8Array(0);
        if (args[0] instanceof Uint8Array) return args[0].slice();
        if (typeof args[0] !== 'string') throw new Error(`expected a string, found ${typeof args[0]}`);
        const enc = String(args[1] ?? 'utf8').toLowerCase().replace(/[-_]/g, '');
        return new Uint8Array(Buffer.from(args[0], enc === 'latin1' || enc === 'iso88591' ? 'latin1' : 'utf8'));
      });
    case 'torch.device':
      return callable(g, (args) => args.join(':'));
    case 'torch._utils._rebuild_tensor':
      return callable(g, (a) => pending(a[0], a[1], a[2], a[3], g));
    case 'torch._utils._rebuild_tensor_v2':
      return callable(g, (a) => pending(a[0], a[1], a[2], a[3], g));
    case 'torch._utils._rebuild_tensor_v3': {
      return callable(g, (a) => {
        const dt = (a[6] as { value?: { torchDtype?: TorchDtype } })?.value?.torchDtype;
        if (!dt) throw new Error('dtype argument is not a torch dtype');
        return pending(a[0], a[1], a[2], a[3], g, dt);
      });
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return callable(g, (a) => {
        if (!(a[0] instanceof PendingTensor)) throw new Error('expected a tensor as the parameter data');
        return a[0];
      });
    case 'torch._tensor._rebuild_from_type_v2':
      // (func, new_type, args, state): only for the tensor rebuild functions above, type torch.Tensor / Parameter
      return callable(g, (a) => {
        const fn = a[0] as { call?: (x: unknown[]) => unknown; pyGlobal?: string };
        if (!fn?.call) throw new Error('first argument must be an allowed rebuild function');
        const t = fn.call(a[2] as unknown[]);
        if (!(t instanceof PendingTensor)) throw new Error(`${fn.pyGlobal} did not rebuild a tensor`);
        return t;
      });
    case 'torch.Tensor':
    case 'torch.nn.parameter.Parameter':
      return { pyGlobal: g, value: { tensorType: name } };
    default:
      return undefined;
  }
}

/** TorchScript module objects: a dict of the object's attributes, its class name kept non-enumerable. */
function scriptObject(pyGlobal: string): PyGlobal {
  return {
    pyGlobal,
    call: () => {
      const d: PyDict = {};
      Object.defineProperty(d, '__class__', { value: pyGlobal, enumerable: false });
      return d;
    },
    build: (obj, state) => {
      if (isPlainDict(state)) for (const k of Object.keys(state)) dictSet(obj as PyDict, k, state[k]);
      else Object.defineProperty(obj as object, '__state__', { value: state, enumerable: false, writable: true, configurable: true });
      return obj;
    },
  };
}

/** Globals of a TorchScript archive: those of torch.save files plus the (inert) compiled `__torch__` classes. */
function scriptFindClass(module: string, name: string): PyGlobal | undefined {
  if (module === '__torch__' || module.startsWith('__torch__.')) return scriptObject(`${module}.${name}`);
  return torchFindClass(module, name);
}

function storageFromPid(pid: unknown, legacy: boolean): StorageRef {
  if (!Array.isArray(pid) || pid[0] !== 'storage') {
    const kind = Array.isArray(pid) ? JSON.stringify(pid[0]) : typeof pid;
    throw new UnpicklingError(`persistent id of kind ${kind}; expected a ('storage', ...) tuple (pickled modules are not supported)`);
  }
  const n = legacy ? 6 : 5;
  if (pid.length !== n) throw new UnpicklingError(`storage persistent id has ${pid.length} fields, expected ${n}`);
  const t = (pid[1] as { value?: { storageType?: TorchDtype } })?.value?.storageType;
  if (!t) throw new UnpicklingError(`storage persistent id names ${String((pid[1] as PyGlobal)?.pyGlobal ?? pid[1])}, expected a torch storage type`);
  const key = String(pid[2]);
  const numel = pid[4];
  if (typeof numel !== 'number' || !Number.isInteger(numel) || numel < 0) throw new UnpicklingError(`storage '${key}' has element count ${String(numel)}`);
  return { kind: 'torch.storage', key, dtype: t, numel };
}

/** Gather a (possibly strided) view of a decoded storage into a C-order array. */
function gather<T extends Float32Array | Int32Array | Uint8Array | Float64Array>(src: T, t: PendingTensor, numel: number): T {
  const rank = t.size.length;
  let contiguous = true;
  for (let i = rank - 1, expect = 1; i >= 0; i--) {
    if (t.size[i] !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= t.size[i];
  }
  if (contiguous) {
    if (t.offset === 0 && numel === src.length) return src;
    return src.slice(t.offset, t.offset + numel) as T;
  }
  const out = new (src.constructor as { new (n: number): T })(numel);
  const idx = new Array<number>(rank).fill(0);
  let p = t.offset;
  for (let i = 0; i < numel; i++) {
    out[i] = src[p];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      p += t.stride[d];
      if (idx[d] < t.size[d]) break;
      p -= t.stride[d] * t.size[d];
      idx[d] = 0;
    }
  }
  return out;
}

class StorageBank {
  // Decoded storages, per (key, dtype). Raw bytes are not kept: a storage is read once per dtype it is viewed as.
  private readonly decoded = new Map<string, ReturnType<typeof decodeTensorBytes>>();
  constructor(private readonly loadBytes: (s: StorageRef) => Uint8Array) {}

  tensor(t: PendingTensor): RawTensor {
    const s = t.storage;
    const root = s.root ?? s;
    const es = ELEMENT_BYTES[t.dtype];
    const storageNumel = Math.floor((s.numel * ELEMENT_BYTES[s.dtype]) / es);
    const numel = t.size.reduce((a, b) => a * b, 1);
    if (numel > 0) {
      let last = t.offset;
      for (let i = 0; i < t.size.length; i++) last += (t.size[i] - 1) * t.stride[i];
      if (last >= storageNumel) {
        throw new Error(
          `tensor of size ${JSON.stringify(t.size)}, stride ${JSON.stringify(t.stride)}, offset ${t.offset} reaches element ${last} ` +
            `but its storage '${s.key}' has ${storageNumel} ${t.dtype} elements`,
        );
      }
    }
    const cacheKey = `${s.key}|${t.dtype}`;
    let dec = this.decoded.get(cacheKey);
    if (!dec) {
      let bytes = this.loadBytes(root);
      const rootBytes = root.numel * ELEMENT_BYTES[root.dtype];
      if (bytes.byteLength > rootBytes) bytes = bytes.subarray(0, rootBytes);
      if (s.root) {
        const start = (s.rootOffset ?? 0) * ELEMENT_BYTES[root.dtype];
        const len = s.numel * ELEMENT_BYTES[s.dtype];
        if (start + len > bytes.byteLength) throw new Error(`storage view '${s.key}' (${len} bytes at ${start}) exceeds its root storage '${root.key}' (${bytes.byteLength} bytes)`);
        bytes = bytes.subarray(start, start + len);
      }
      try {
        dec = decodeTensorBytes(t.dtype, bytes.subarray(0, storageNumel * es), storageNumel);
      } catch (e) {
        throw new Error(`storage '${s.key}': ${(e as Error).message.replace(/^safetensors: /, '')}`);
      }
      this.decoded.set(cacheKey, dec);
    }
    const out: RawTensor = { dtype: dec.dtype, shape: t.size.slice(), data: gather(dec.data, t, numel), sourceDtype: t.dtype };
    if (dec.float64) out.float64 = gather(dec.float64, t, numel);
    return out;
  }
}

const SKIP = Symbol('skip');

/**
 * Replace every PendingTensor in the tree by its RawTensor (shared references stay shared). With `filter`,
 * only tensors whose dotted path passes it are read (the others are left out of dicts, or null in lists).
 */
function materialize(root: unknown, bank: StorageBank, filter?: (key: string) => boolean): unknown {
  const seen = new Map<object, unknown>();
  const active = new Set<object>();
  const join = (a: string, b: string) => (a ? `${a}.${b}` : b);
  const walk = (x: unknown, key: string): unknown => {
    if (x === null || typeof x !== 'object') return x;
    if (seen.has(x)) return seen.get(x);
    if (x instanceof PendingTensor) {
      if (filter && !filter(key)) return SKIP;
      const r = bank.tensor(x);
      seen.set(x, r);
      return r;
    }
    if ((x as StorageRef).kind === 'torch.storage') {
      // a bare storage in the tree: give it as a 1-D tensor of its elements
      if (filter && !filter(key)) return SKIP;
      const s = x as StorageRef;
      const r = bank.tensor(new PendingTensor(s, 0, [s.numel], [1], s.dtype));
      seen.set(x, r);
      return r;
    }
    if ('pyGlobal' in (x as object)) return `<${(x as PyGlobal).pyGlobal}>`;
    if (active.has(x)) return null; // a container inside itself (only possible with a filter: no memo then)
    const memo = (out: unknown) => {
      if (!filter) seen.set(x, out); // with a filter a shared container may differ per path
    };
    active.add(x);
    try {
      if (Array.isArray(x)) {
        const frozen = Object.isFrozen(x);
        const out: unknown[] = [];
        memo(out);
        x.forEach((v, i) => {
          const r = walk(v, join(key, String(i)));
          out.push(r === SKIP ? null : r);
        });
        return frozen ? Object.freeze(out) : out;
      }
      if (x instanceof Set) {
        const out = new Set<unknown>();
        memo(out);
        for (const v of x) {
          const r = walk(v, key);
          if (r !== SKIP) out.add(r);
        }
        return out;
      }
      if (isPlainDict(x)) {
        const out: PyDict = {};
        memo(out);
        for (const k of Object.keys(x)) {
          const r = walk(x[k], join(key, k));
          if (r !== SKIP) dictSet(out, k, r);
        }
        const st = Object.getOwnPropertyDescriptor(x, '__state__');
        if (st) Object.defineProperty(out, '__state__', { value: walk(st.value, key), enumerable: false, writable: true, configurable: true });
        const cls = Object.getOwnPropertyDescriptor(x, '__class__');
        if (cls) Object.defineProperty(out, '__class__', { value: cls.value, enumerable: false });
        return out;
      }
      return x;
    } finally {
      active.delete(x);
    }
  };
  const r = walk(root, '');
  return r === SKIP ? null : r;
}

function readZip(src: ByteSource, what: string, filter?: (key: string) => boolean): unknown {
  const zip = new ZipReader(src, what);
  const names = [...zip.entries.keys()];
  const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n)) ?? names.find((n) => n.endsWith('data.pkl'));
  if (!pkl) throw new Error(`zip archive has no '<name>/data.pkl' entry (entries: ${names.slice(0, 5).join(', ')}); not a PyTorch checkpoint`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  // TorchScript archives (torch.jit.save, e.g. OpenAI's CLIP ViT-B-32.pt) pickle the module tree as objects of
  // compiled `__torch__.*` classes: they are rebuilt as plain dicts of their attributes (parameters, buffers,
  // submodules, flags); the compiled code in code/ is never read.
  const script = zip.entries.has(`${prefix}constants.pkl`) || names.some((n) => n.startsWith(`${prefix}code/`));
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = Buffer.from(zip.read(`${prefix}byteorder`)).toString('latin1').trim();
    if (order !== 'little') throw new Error(`storages are stored ${order}-endian; only little-endian checkpoints are supported`);
  }
  const value = unpickle(zip.read(pkl), {
    what: `${what} ${pkl}`,
    findClass: script ? scriptFindClass : torchFindClass,
    persistentLoad: (pid) => storageFromPid(pid, false),
  }).value;
  const bank = new StorageBank((s) => {
    const name = `${prefix}data/${s.key}`;
    const e = zip.entries.get(name);
    if (!e) throw new Error(`storage '${s.key}' is missing: no entry '${name}' in the archive`);
    const need = s.numel * ELEMENT_BYTES[s.dtype];
    if (e.size < need) throw new Error(`storage '${s.key}' needs ${need} bytes (${s.numel} x ${s.dtype}) but entry '${name}' has ${e.size}`);
    return zip.read(name);
  });
  return materialize(value, bank, filter);
}

function readLegacy(src: ByteSource, what: string, filter?: (key: string) => boolean): unknown {
  const win = windowedSource(src);
  const plain = { findClass: (): undefined => undefined };
  let pos = 0;
  let magic: unknown;
  try {
    const r = unpickle(win, { ...plain, what: `${what} (magic number)` }, 0);
    magic = r.value;
    pos = r.end;
  } catch (e) {
    if (src.size > 262) {
      const ustar = Buffer.from(src.read(257, 5)).toString('latin1');
      if (ustar === 'ustar') throw new Error('tar-format checkpoint (PyTorch < 0.4) is not supported; re-save it with a current torch');
    }
    const m = /refusing to load global '([^']+)'/.exec((e as Error).message);
    if (m) {
      throw new Error(
        `a plain Python pickle (not written by torch.save) that names the global '${m[1]}', which is refused: ` +
          'loading it would run code from the file (e.g. NVIDIA network pickles). Save the state_dict with torch.save in Python instead.',
      );
    }
    throw new Error(`not a PyTorch checkpoint: neither a zip archive nor a legacy pickle (${(e as Error).message})`);
  }
  if (magic !== MAGIC_NUMBER) {
    throw new Error(`not a PyTorch legacy checkpoint: first pickle is ${typeof magic === 'bigint' ? '0x' + magic.toString(16) : JSON.stringify(magic)}, expected the magic number 0x${MAGIC_NUMBER.toString(16)} (a plain pickle, not written by torch.save?)`);
  }
  const proto = unpickle(win, { ...plain, what: `${what} (protocol version)` }, pos);
  if (proto.value !== LEGACY_PROTOCOL_VERSION) throw new Error(`legacy protocol version ${String(proto.value)}, expected ${LEGACY_PROTOCOL_VERSION}`);
  const sys = unpickle(win, { ...plain, what: `${what} (sys_info)` }, proto.end);
  const info = sys.value as { little_endian?: unknown } | null;
  if (!isPlainDict(info)) throw new Error('legacy sys_info is not a dict (corrupt)');
  if (info.little_endian === false) throw new Error('checkpoint was written on a big-endian machine; only little-endian is supported');
  const storages = new Map<string, StorageRef>();
  const main = unpickle(
    win,
    {
      what: `${what} (object pickle)`,
      findClass: torchFindClass,
      persistentLoad: (pid) => {
        const s = storageFromPid(pid, true);
        const view = (pid as unknown[])[5];
        let root = storages.get(s.key);
        if (!root) {
          root = s;
          storages.set(s.key, s);
        } else if (root.dtype !== s.dtype) {
          throw new UnpicklingError(`storage '${s.key}' is named with dtypes ${root.dtype} and ${s.dtype}`);
        }
        if (view === null || view === undefined) return root;
        if (!Array.isArray(view) || view.length !== 3) throw new UnpicklingError(`storage '${s.key}': view metadata must be (key, offset, size)`);
        const [vk, off, size] = view as [unknown, unknown, unknown];
        if (typeof off !== 'number' || typeof size !== 'number' || off < 0 || size < 0) throw new UnpicklingError(`storage view '${String(vk)}' has offset ${String(off)} size ${String(size)}`);
        const v: StorageRef = { kind: 'torch.storage', key: String(vk), dtype: s.dtype, numel: size, root, rootOffset: off };
        storages.set(v.key, v);
        return v;
      },
    },
    sys.end,
  );
  const keysPickle = unpickle(win, { ...plain, what: `${what} (storage keys)` }, main.end);
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new Error('storage key list is not a list of strings (corrupt)');
  // raw storages follow, each an int64 element count then numel * element size bytes
  const offsets = new Map<string, number>();
  let p = keysPickle.end;
  for (const k of keys as string[]) {
    const s = storages.get(k);
    if (!s) throw new Error(`storage key '${k}' is listed but no tensor uses it (corrupt)`);
    if (p + 8 > src.size) throw new Error(`storage '${k}' header at byte ${p} is past the end of the ${src.size}-byte file (truncated)`);
    const hb = src.read(p, 8);
    const n = new DataView(hb.buffer, hb.byteOffset, 8).getBigInt64(0, true);
    if (n !== BigInt(s.numel)) throw new Error(`storage '${k}' at byte ${p}: element count ${n}, expected ${s.numel} (corrupt or truncated file)`);
    const bytes = s.numel * ELEMENT_BYTES[s.dtype];
    if (p + 8 + bytes > src.size) throw new Error(`storage '${k}' (${bytes} bytes at byte ${p + 8}) runs past the end of the ${src.size}-byte file (truncated)`);
    offsets.set(k, p + 8);
    p += 8 + bytes;
  }
  if (p !== src.size) throw new Error(`${src.size - p} unexpected trailing bytes after the last storage (corrupt, or not a legacy checkpoint)`);
  const bank = new StorageBank((s) => {
    const off = offsets.get(s.key);
    if (off === undefined) throw new Error(`storage '${s.key}' is used by a tensor but missing from the storage list (corrupt)`);
    return src.read(off, s.numel * ELEMENT_BYTES[s.dtype]);
  });
  return materialize(main.value, bank, filter);
}

export interface ReadTorchOptions {
  /**
   * Read only the tensors whose dotted path (as flattenStateDict names them, e.g. 'model.netG.module.fc.weight')
   * passes; the others are never read from disk (left out of dicts, null in lists).
   */
  filter?: (key: string) => boolean;
}

/**
 * Read a `torch.save` checkpoint (zip or legacy format) from a file path or a buffer. Returns the saved object
 * with dicts as plain objects, tuples/lists as arrays and every tensor as a RawTensor (C-order, float dtypes as
 * float32 with `sourceDtype` telling the original). Throws an Error naming the file and what is wrong for
 * corrupt, truncated or unsafe files (a global other than tensor rebuilders and plain containers).
 */
export function readTorchCheckpoint(fileOrBuffer: string | Uint8Array, opts: ReadTorchOptions = {}): TorchObject {
  const what = typeof fileOrBuffer === 'string' ? fileOrBuffer : 'buffer';
  let src: ByteSource;
  let close = () => {};
  if (typeof fileOrBuffer === 'string') {
    if (!fs.existsSync(fileOrBuffer)) throw new Error(`torch checkpoint: file not found: ${fileOrBuffer}`);
    if (fs.statSync(fileOrBuffer).isDirectory()) throw new Error(`torch checkpoint: ${fileOrBuffer} is a directory, expected a .pth/.pt/.bin file`);
    const fsrc = fileSource(fileOrBuffer);
    src = fsrc;
    close = () => fsrc.close();
  } else {
    src = bufferSource(fileOrBuffer);
  }
  try {
    if (src.size < 4) throw new Error(`only ${src.size} bytes: not a PyTorch checkpoint (truncated?)`);
    return looksLikeZip(src.read(0, 4)) ? readZip(src, what, opts.filter) : readLegacy(src, what, opts.filter);
  } catch (e) {
    const msg = (e as Error).message;
    const err = new Error(msg.startsWith(what) ? `torch checkpoint ${msg}` : `torch checkpoint ${what}: ${msg}`);
    if (e instanceof UnpicklingError) err.name = 'UnpicklingError';
    throw err;
  } finally {
    close();
  }
}

/**
 * Flatten nested dicts/lists of tensors to `{ 'a.b.0.weight': RawTensor }` (the state_dict naming). Non-tensor
 * leaves (numbers, strings, optimizer hyper-parameters) are skipped.
 */
export function flattenStateDict(obj: unknown, prefix = ''): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  const seen = new Set<object>();
  const walk = (x: unknown, name: string) => {
    if (x === null || typeof x !== 'object') return;
    if (isRawTensor(x)) {
      if (name in out) throw new Error(`flattenStateDict: key '${name}' occurs twice`);
      out[name] = x;
      return;
    }
    if (seen.has(x)) return;
    seen.add(x);
    const join = (k: string) => (name ? `${name}.${k}` : k);
    if (Array.isArray(x)) x.forEach((v, i) => walk(v, join(String(i))));
    else if (isPlainDict(x)) for (const k of Object.keys(x)) walk(x[k], join(k));
  };
  walk(obj, prefix.replace(/\.$/, ''));
  return out;
}

/**
 * Drop a key prefix such as `module.` (DataParallel) from every key that has it. Throws when stripping makes
 * two keys collide.
 */
export function stripKeyPrefix<T>(tensors: Record<string, T>, prefix: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(tensors)) {
    const nk = k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (nk in out) throw new Error(`stripKeyPrefix: stripping '${prefix}' makes key '${nk}' occur twice`);
    out[nk] = v;
  }
  return out;
}
