/**
 * A restricted Python unpickler (protocols 0-5): it rebuilds plain data (None, bools, numbers, strings, bytes,
 * lists, tuples, dicts, sets) and calls ONLY the globals a caller allows through `findClass`; any other global
 * (e.g. `os.system`, `builtins.eval`) is refused with an Error naming it, before anything is called. This is the
 * spirit of `torch.load(weights_only=True)`: loading a checkpoint never runs code from the file.
 *
 * Python values map to JS as: None -> null, bool -> boolean, int -> number (bigint when beyond 2^53),
 * float -> number, str -> string, bytes/bytearray -> Uint8Array, list/tuple -> Array (tuples are frozen),
 * dict -> PyDict (a plain object; non-string keys are stringified), set/frozenset -> Set.
 */

/** A Python global the unpickler may call (REDUCE / NEWOBJ / INST / OBJ). */
export interface PyCallable {
  readonly pyGlobal: string;
  call(args: unknown[], kwargs?: Record<string, unknown>): unknown;
  /** Optional BUILD (`__setstate__`) handler for objects this callable made. */
  build?(obj: unknown, state: unknown): unknown;
}

/** A Python global that is only a value (e.g. a storage type or a dtype), never called. */
export interface PyValue {
  readonly pyGlobal: string;
  readonly value: unknown;
}

export type PyGlobal = PyCallable | PyValue;

export interface UnpickleOptions {
  /** Resolve `module.name` to an allowed global, or return undefined to refuse it. */
  findClass(module: string, name: string): PyGlobal | undefined;
  /** Resolve a persistent id (PERSID / BINPERSID); without it, persistent ids are an error. */
  persistentLoad?(pid: unknown): unknown;
  /** Names the source in error messages. */
  what?: string;
}

/** Thrown for every problem found while unpickling (corrupt data, refused globals, bad opcodes). */
export class UnpicklingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnpicklingError';
  }
}

/** A dict from a pickle. BUILD state given to it (e.g. a state_dict's `_metadata`) is kept non-enumerable. */
export type PyDict = Record<string, unknown>;

const MARK = Symbol('mark');

export function isPyCallable(x: unknown): x is PyCallable {
  return !!x && typeof x === 'object' && typeof (x as PyCallable).call === 'function' && 'pyGlobal' in (x as object);
}

function isPyValue(x: unknown): x is PyValue {
  return !!x && typeof x === 'object' && 'pyGlobal' in (x as object) && 'value' in (x as object);
}

export function isPlainDict(x: unknown): x is PyDict {
  return !!x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype;
}

/** Set `key` on a dict built from a pickle (a key named `__proto__` is stored as data, not as the prototype). */
export function dictSet(d: PyDict, key: unknown, value: unknown): void {
  let k: string;
  if (typeof key === 'string') k = key;
  else if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean' || key === null) k = String(key);
  else if (key instanceof Uint8Array) k = Buffer.from(key).toString('latin1');
  else k = JSON.stringify(key, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  if (k === '__proto__') Object.defineProperty(d, k, { value, enumerable: true, writable: true, configurable: true });
  else d[k] = value;
}

/** Attach BUILD state to a dict without making it a key. */
export function attachState(d: object, state: unknown): void {
  Object.defineProperty(d, '__state__', { value: state, enumerable: false, writable: true, configurable: true });
}

function describe(x: unknown): string {
  if (x === MARK) return 'MARK';
  if (x === null) return 'None';
  if (Array.isArray(x)) return Object.isFrozen(x) ? 'tuple' : 'list';
  if (x instanceof Uint8Array) return 'bytes';
  if (x instanceof Set) return 'set';
  if (isPyCallable(x) || isPyValue(x)) return `global ${(x as PyGlobal).pyGlobal}`;
  if (isPlainDict(x)) return 'dict';
  return typeof x;
}

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** Decode a little-endian two's-complement integer (LONG1/LONG4 payload). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return toNumberIfSafe(v);
}

function toNumberIfSafe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Decode a protocol-0 quoted Python 2 string literal (STRING opcode) to bytes-as-latin1 string. */
function decodeQuoted(s: string, fail: (m: string) => never): string {
  if (s.length < 2 || (s[0] !== "'" && s[0] !== '"') || s[s.length - 1] !== s[0]) fail(`STRING argument ${JSON.stringify(s.slice(0, 40))} is not quoted`);
  const body = s.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
    if (n === 'x') {
      out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (n in simple) out += simple[n];
    else out += '\\' + (n ?? '');
  }
  return out;
}

/** Decode Python's raw-unicode-escape (UNICODE opcode). */
function decodeRawUnicodeEscape(b: Uint8Array): string {
  const s = Buffer.from(b).toString('latin1');
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4, u8) => String.fromCodePoint(parseInt(u4 ?? u8, 16)));
}

/** Random-access byte source: a whole buffer, or a window reader over a file (see torch.ts). */
export interface ByteSource {
  readonly size: number;
  /** `len` bytes from `pos`; throws when the range is out of bounds. */
  read(pos: number, len: number): Uint8Array;
}

export function bufferSource(buf: Uint8Array): ByteSource & { whole: Uint8Array } {
  return {
    whole: buf,
    size: buf.byteLength,
    read(pos, len) {
      if (pos < 0 || len < 0 || pos + len > buf.byteLength) throw new RangeError(`read of ${len} bytes at ${pos} is past the end (${buf.byteLength} bytes)`);
      return buf.subarray(pos, pos + len);
    },
  };
}

/**
 * Unpickle one pickle from `src` starting at byte `start`. Returns the value and the offset just after STOP.
 * Every length is bounds-checked against the source before anything is allocated, so corrupt input ends in an
 * UnpicklingError, never in a hang or a huge allocation.
 */
export function unpickle(src: ByteSource | Uint8Array, opts: UnpickleOptions, start = 0): { value: unknown; end: number } {
  const source = src instanceof Uint8Array ? bufferSource(src) : src;
  // fast path: the whole input is in memory
  const whole: Uint8Array | undefined = (source as { whole?: Uint8Array }).whole;
  const what = opts.what ?? 'pickle';
  let pos = start;
  let opPos = start;
  let opName = '';
  const fail = (m: string): never => {
    throw new UnpicklingError(`${what}: ${m} (opcode ${opName || '?'} at byte ${opPos})`);
  };
  const take = (n: number): Uint8Array => {
    if (!Number.isSafeInteger(n) || n < 0) fail(`invalid length ${n}`);
    if (pos + n > source.size) fail(`needs ${n} bytes at byte ${pos} but the data ends at byte ${source.size} (truncated or corrupt)`);
    const b = whole ? whole.subarray(pos, pos + n) : source.read(pos, n);
    pos += n;
    return b;
  };
  const u8 = (): number => {
    if (!whole) return take(1)[0];
    if (pos >= whole.byteLength) fail(`needs 1 byte at byte ${pos} but the data ends at byte ${whole.byteLength} (truncated or corrupt)`);
    return whole[pos++];
  };
  const le = (n: number): number => {
    const b = take(n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[i];
    return v;
  };
  const i32 = () => {
    const b = take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
  };
  const u64 = (): number => {
    const b = take(8);
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (v > BigInt(source.size)) fail(`length ${v} is larger than the whole input (${source.size} bytes)`);
    return Number(v);
  };
  const line = (): string => {
    // protocol-0 text argument, terminated by '\n'; bounded by the input size
    const chunks: number[] = [];
    for (;;) {
      if (pos >= source.size) fail('unterminated text argument (truncated or corrupt)');
      const c = whole ? whole[pos++] : source.read(pos++, 1)[0];
      if (c === 0x0a) break;
      chunks.push(c);
      if (chunks.length > 1 << 20) fail('text argument longer than 1 MiB (corrupt)');
    }
    return Buffer.from(chunks).toString('latin1');
  };
  const utf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

  const stack: unknown[] = [];
  const metastack: number[] = [];
  const memo = new Map<number, unknown>();
  const pop = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow (corrupt pickle)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = metastack.pop();
    if (m === undefined) fail('MARK expected but none is open (corrupt pickle)');
    const items = stack.splice(m as number);
    if (items[0] !== MARK) fail('MARK expected on the stack (corrupt pickle)');
    items.shift();
    if (items.includes(MARK)) fail('nested MARK inside a marked sequence (corrupt pickle)');
    return items;
  };
  const global = (module: string, name: string): PyGlobal => {
    const mod = module === '__builtin__' ? 'builtins' : module === 'copy_reg' ? 'copyreg' : module;
    const g = opts.findClass(mod, name);
    if (!g) {
      throw new UnpicklingError(
        `${what}: refusing to load global '${mod}.${name}' (opcode ${opName} at byte ${opPos}): only tensors, storages, ` +
          'parameters and plain containers are allowed (like torch.load(weights_only=True)); the file may be malicious or not a weights file',
      );
    }
    return g;
  };
  const call = (fn: unknown, args: unknown, kwargs?: unknown): unknown => {
    if (!isPyCallable(fn)) fail(`cannot call ${describe(fn)}`);
    if (!Array.isArray(args)) fail(`call arguments must be a tuple, found ${describe(args)}`);
    if (kwargs !== undefined && kwargs !== null && !isPlainDict(kwargs)) fail(`keyword arguments must be a dict, found ${describe(kwargs)}`);
    const f = fn as PyCallable;
    try {
      return f.call(args as unknown[], (kwargs ?? undefined) as Record<string, unknown> | undefined);
    } catch (e) {
      if (e instanceof UnpicklingError) throw e;
      return fail(`${f.pyGlobal}(...) failed: ${(e as Error).message}`);
    }
  };
  const builders = new WeakMap<object, PyCallable>();
  const made = (fn: unknown, obj: unknown) => {
    if (obj && typeof obj === 'object' && isPyCallable(fn) && fn.build) builders.set(obj, fn);
    return obj;
  };
  const tuple = (items: unknown[]) => Object.freeze(items);
  const setitems = (d: unknown, items: unknown[]) => {
    if (!isPlainDict(d)) fail(`SETITEM(S) on ${describe(d)}, expected a dict`);
    if (items.length % 2) fail('SETITEMS with an odd number of items (corrupt pickle)');
    for (let i = 0; i < items.length; i += 2) dictSet(d as PyDict, items[i], items[i + 1]);
  };
  const appends = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l) || Object.isFrozen(l)) fail(`APPEND(S) on ${describe(l)}, expected a list`);
    (l as unknown[]).push(...items);
  };

  for (;;) {
    opPos = pos;
    opName = '';
    if (pos >= source.size) fail('pickle ends without STOP (truncated file)');
    const op = u8();
    opName = OPNAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p > 5) fail(`unsupported pickle protocol ${p}; expected 0-5`);
        break;
      }
      case 0x95: // FRAME: 8-byte frame length; the framed opcodes follow inline
        u64();
        break;
      case 0x2e: { // STOP
        const value = pop();
        if (stack.length) fail(`STOP with ${stack.length} extra item(s) on the stack (corrupt pickle)`);
        return { value, end: pos };
      }
      case 0x28: // MARK
        metastack.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack[stack.length - 1] === MARK) {
          stack.pop();
          metastack.pop();
        } else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(le(2)); break; // BININT2
      case 0x8a: stack.push(decodeLong(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail(`negative LONG4 length ${n}`);
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x49: { // INT (text; I01/I00 are True/False)
        const s = line().trim();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else {
          if (!/^[-+]?\d+$/.test(s)) fail(`INT argument ${JSON.stringify(s.slice(0, 40))} is not an integer`);
          stack.push(toNumberIfSafe(BigInt(s)));
        }
        break;
      }
      case 0x4c: { // LONG (text)
        const s = line().trim().replace(/L$/, '');
        if (!/^[-+]?\d+$/.test(s)) fail(`LONG argument ${JSON.stringify(s.slice(0, 40))} is not an integer`);
        stack.push(toNumberIfSafe(BigInt(s)));
        break;
      }
      case 0x46: { // FLOAT (text)
        const s = line().trim();
        const v = Number(s === 'inf' ? 'Infinity' : s === '-inf' ? '-Infinity' : s === 'nan' ? 'NaN' : s);
        if (Number.isNaN(v) && s.toLowerCase() !== 'nan') fail(`FLOAT argument ${JSON.stringify(s.slice(0, 40))} is not a number`);
        stack.push(v);
        break;
      }
      case 0x47: { // BINFLOAT (big-endian float64)
        const b = take(8);
        stack.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
        break;
      }
      case 0x53: stack.push(decodeQuoted(line(), fail)); break; // STRING (py2 str)
      case 0x54: { // BINSTRING (py2 str, latin1)
        const n = i32();
        if (n < 0) fail(`negative BINSTRING length ${n}`);
        stack.push(Buffer.from(take(n)).toString('latin1'));
        break;
      }
      case 0x55: stack.push(Buffer.from(take(u8())).toString('latin1')); break; // SHORT_BINSTRING
      case 0x56: stack.push(decodeRawUnicodeEscape(Buffer.from(line(), 'latin1'))); break; // UNICODE
      case 0x58: stack.push(utf8(take(le(4)))); break; // BINUNICODE
      case 0x8c: stack.push(utf8(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8(take(u64()))); break; // BINUNICODE8
      case 0x42: stack.push(take(le(4)).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        fail('out-of-band buffers (pickle protocol 5 buffer_callback) are not supported');
        break;
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x7d: stack.push({}); break; // EMPTY_DICT
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x74: stack.push(tuple(popMark())); break; // TUPLE
      case 0x85: stack.push(tuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x64: { // DICT
        const d: PyDict = {};
        setitems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x61: { // APPEND
        const v = pop();
        appends(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appends(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setitems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setitems(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on ${describe(s)}, expected a set`);
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }
      case 0x67: { // GET
        const s = line();
        const k = Number(s);
        if (!Number.isInteger(k) || !memo.has(k)) fail(`memo key ${JSON.stringify(s)} not found (corrupt pickle)`);
        stack.push(memo.get(k));
        break;
      }
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const k = op === 0x68 ? u8() : le(4);
        if (!memo.has(k)) fail(`memo key ${k} not found (corrupt pickle)`);
        stack.push(memo.get(k));
        break;
      }
      case 0x70: { // PUT
        const s = line();
        const k = Number(s);
        if (!Number.isInteger(k) || k < 0) fail(`bad memo key ${JSON.stringify(s)}`);
        memo.set(k, top());
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(le(4), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(`STACK_GLOBAL needs two strings, found ${describe(module)} and ${describe(name)}`);
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x69: { // INST: class from text args, arguments from the marked items
        const module = line();
        const name = line();
        const items = popMark();
        const g = global(module, name);
        stack.push(made(g, call(g, items)));
        break;
      }
      case 0x6f: { // OBJ: class and arguments from the marked items
        const items = popMark();
        if (!items.length) fail('OBJ without a class (corrupt pickle)');
        const cls = items.shift();
        stack.push(made(cls, call(cls, items)));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(made(fn, call(fn, args)));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        stack.push(made(cls, call(cls, args)));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        stack.push(made(cls, call(cls, args, kwargs)));
        break;
      }
      case 0x62: { // BUILD: obj.__setstate__(state)
        const state = pop();
        const obj = top();
        const b = obj && typeof obj === 'object' ? builders.get(obj) : undefined;
        if (b?.build) {
          const r = b.build(obj, state);
          if (r !== obj) stack[stack.length - 1] = r;
        } else if (isPlainDict(obj)) {
          attachState(obj, state);
        } else if (state === null || (isPlainDict(state) && Object.keys(state).length === 0)) {
          /* empty state: nothing to set */
        } else {
          fail(`cannot set state on ${describe(obj)}`);
        }
        break;
      }
      case 0x50: { // PERSID
        if (!opts.persistentLoad) fail('persistent id found but no persistent loader is set');
        stack.push(opts.persistentLoad!(line()));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent id found but no persistent loader is set');
        try {
          stack.push(opts.persistentLoad!(pid));
        } catch (e) {
          if (e instanceof UnpicklingError) throw e;
          fail((e as Error).message);
        }
        break;
      }
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        fail('extension-registry globals (copyreg EXT codes) are refused');
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} (not a pickle, or corrupt)`);
    }
  }
}
