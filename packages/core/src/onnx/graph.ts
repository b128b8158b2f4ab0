/**
 * A tiny ONNX graph builder that writes the model protobuf itself (src/onnx/proto.ts): no onnx / protobufjs
 * dependency. ModelProto { ir_version 8, opset_import [{ '' , 17 }], producer_name 'ganzoo', graph }.
 *
 *   const g = new OnnxGraph('demo');
 *   const x = g.input('x', ['N', 3, 8, 8]);
 *   const w = g.initializer('w', weights, [4, 3, 3, 3]);
 *   g.output(g.node('Relu', [g.node('Conv', [x, w], { pads: [1, 1, 1, 1] })]));
 *   const session = await createOrtSession(g.toBytes());
 *
 * Attributes: an integer `number` is an INT, a `number[]` INTS, a `string` STRING; floats are explicit,
 * `{ f: 0.5 }` (FLOAT) and `{ floats: [...] }` (FLOATS), so that `alpha: 1` can never silently become an INT.
 */
import * as os from 'os';
import { ProtoWriter, concatChunks } from './proto';

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export type OnnxAttr = number | number[] | string | { f: number } | { floats: number[] };
/** A dimension: a fixed size, or a symbolic name (dim_param) such as 'N' for a dynamic batch. */
export type OnnxDim = number | string;
export type OnnxDtype = 'float32' | 'int64';

const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

interface ValueInfo {
  name: string;
  dtype: OnnxDtype;
  shape: OnnxDim[] | null;
}

interface Initializer {
  name: string;
  dtype: OnnxDtype;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

interface Node {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: [string, OnnxAttr][];
}

const elemType = (d: OnnxDtype) => (d === 'float32' ? ONNX_FLOAT : ONNX_INT64);

function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new Error(`OnnxGraph: ${what} name must be a non-empty string, found ${JSON.stringify(name)}`);
  return name;
}

function littleEndianBytes(a: Float32Array | BigInt64Array): Uint8Array {
  if (os.endianness() === 'LE') return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  if (a instanceof Float32Array) a.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  else a.forEach((v, i) => dv.setBigInt64(i * 8, v, true));
  return out;
}

/** Builder of one ONNX graph (opset 17). Names are checked as nodes are added; `toBytes()` serialises the model. */
export class OnnxGraph {
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly inits: Initializer[] = [];
  private readonly nodes: Node[] = [];
  /** Every defined value name (inputs, initializers, node outputs). */
  private readonly defined = new Set<string>();
  private readonly consts = new Map<string, string>();
  private counter = 0;

  constructor(readonly name = 'ganzoo', readonly opset = 17) {}

  private define(name: string, what: string): void {
    if (this.defined.has(name)) throw new Error(`OnnxGraph: ${what} '${name}' is already defined in graph '${this.name}'`);
    this.defined.add(name);
  }

  /** A unique value name with a readable prefix. */
  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.defined.has(n));
    return n;
  }

  /** Declare a graph input (float32 by default); `shape` entries are sizes or symbolic names like 'N'. */
  input(name: string, shape: OnnxDim[], dtype: OnnxDtype = 'float32'): string {
    checkName('input', name);
    if (!Array.isArray(shape)) throw new Error(`OnnxGraph: input '${name}' needs a shape array, found ${JSON.stringify(shape)}`);
    for (const d of shape) {
      const ok = typeof d === 'string' ? d.length > 0 : Number.isInteger(d) && d >= 0;
      if (!ok) throw new Error(`OnnxGraph: input '${name}' has an invalid dimension ${JSON.stringify(d)} (expected a non-negative integer or a symbolic name)`);
    }
    this.define(name, 'input');
    this.inputs.push({ name, dtype, shape: [...shape] });
    return name;
  }

  /** A constant tensor (float32 from a Float32Array, int64 from a BigInt64Array), stored little-endian as raw_data. */
  initializer(name: string, data: Float32Array | BigInt64Array, dims: number[]): string {
    checkName('initializer', name);
    if (!(data instanceof Float32Array) && !(data instanceof BigInt64Array)) {
      throw new Error(`OnnxGraph: initializer '${name}' must be a Float32Array or BigInt64Array, found ${Object.prototype.toString.call(data)}`);
    }
    if (!Array.isArray(dims) || dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new Error(`OnnxGraph: initializer '${name}' dims must be non-negative integers, found ${JSON.stringify(dims)}`);
    }
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`OnnxGraph: initializer '${name}' has ${data.length} values but dims ${JSON.stringify(dims)} need ${size}`);
    this.define(name, 'initializer');
    this.inits.push({ name, dtype: data instanceof Float32Array ? 'float32' : 'int64', dims: [...dims], data });
    return name;
  }

  /** An int64 constant (shared between uses of the same values), e.g. Reshape shapes and Slice starts. */
  int64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join(',')}:${values.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    for (const v of values) if (!Number.isSafeInteger(v)) throw new Error(`OnnxGraph: int64 constant value ${v} is not a safe integer`);
    const name = this.initializer(this.fresh('const_i64'), BigInt64Array.from(values.map((v) => BigInt(v))), dims);
    this.consts.set(key, name);
    return name;
  }

  /** A float32 constant (shared between uses of the same values). */
  float32(values: number[], dims: number[] = [values.length]): string {
    const key = `f32:${dims.join(',')}:${values.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = this.initializer(this.fresh('const_f32'), Float32Array.from(values), dims);
    this.consts.set(key, name);
    return name;
  }

  /**
   * Add a node; returns its (first) output name. Inputs must already be defined ('' marks an omitted optional
   * input). `opts.outputs` names the outputs or gives their count (default 1, names generated).
   */
  node(op: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}, opts: { outputs?: number | string[]; name?: string } = {}): string {
    return this.nodeOutputs(op, inputs, attrs, opts)[0];
  }

  /** As `node`, returning every output name. */
  nodeOutputs(op: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}, opts: { outputs?: number | string[]; name?: string } = {}): string[] {
    if (typeof op !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(op)) throw new Error(`OnnxGraph: op type must be an operator name like 'Conv', found ${JSON.stringify(op)}`);
    if (!Array.isArray(inputs)) throw new Error(`OnnxGraph: ${op} inputs must be an array of value names`);
    inputs.forEach((i, k) => {
      if (typeof i !== 'string') throw new Error(`OnnxGraph: ${op} input ${k} must be a value name, found ${JSON.stringify(i)}`);
      if (i !== '' && !this.defined.has(i)) throw new Error(`OnnxGraph: ${op} input ${k} '${i}' is not defined (no input, initializer or earlier node output of that name)`);
    });
    const attrList: [string, OnnxAttr][] = [];
    for (const [k, v] of Object.entries(attrs)) {
      checkAttr(op, k, v);
      attrList.push([k, v]);
    }
    const spec = opts.outputs ?? 1;
    const base = op.toLowerCase();
    const outs = typeof spec === 'number' ? Array.from({ length: spec }, () => this.fresh(base)) : spec.map((o) => checkName(`${op} output`, o));
    if (outs.length < 1) throw new Error(`OnnxGraph: ${op} needs at least one output`);
    for (const o of outs) this.define(o, `${op} output`);
    this.nodes.push({ op, name: opts.name ?? this.fresh(`${base}_node`), inputs: [...inputs], outputs: outs, attrs: attrList });
    return outs;
  }

  /** Mark a value as a graph output (float32 unless given); shape optional (null = unknown rank). */
  output(name: string, shape: OnnxDim[] | null = null, dtype: OnnxDtype = 'float32'): string {
    checkName('output', name);
    if (!this.defined.has(name)) throw new Error(`OnnxGraph: output '${name}' is not defined (no input, initializer or node output of that name)`);
    if (this.outputs.some((o) => o.name === name)) throw new Error(`OnnxGraph: '${name}' is already an output`);
    this.outputs.push({ name, dtype, shape: shape ? [...shape] : null });
    return name;
  }

  /** Number of nodes so far. */
  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialised ModelProto. */
  toBytes(): Uint8Array {
    if (this.outputs.length === 0) throw new Error(`OnnxGraph: graph '${this.name}' has no outputs (call output(name))`);
    const g = new ProtoWriter();
    // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12
    for (const n of this.nodes) g.message(1, encodeNode(n));
    g.string(2, this.name);
    for (const t of this.inits) g.message(5, encodeTensor(t));
    for (const v of this.inputs) g.message(11, encodeValueInfo(v));
    for (const v of this.outputs) g.message(12, encodeValueInfo(v));
    const m = new ProtoWriter();
    // ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8
    m.int(1, 8);
    m.string(2, 'ganzoo');
    m.message(7, g);
    const opset = new ProtoWriter();
    opset.string(1, ''); // OperatorSetIdProto: domain = 1, version = 2
    opset.int(2, this.opset);
    m.message(8, opset);
    return concatChunks(m);
  }
}

function checkAttr(op: string, k: string, v: OnnxAttr): void {
  const where = `OnnxGraph: ${op} attribute '${k}'`;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`${where} = ${v} is not an integer (use { f: ${v} } for a FLOAT attribute)`);
  } else if (Array.isArray(v)) {
    if (v.some((x) => !Number.isSafeInteger(x))) throw new Error(`${where} = ${JSON.stringify(v)} has non-integer entries (use { floats: [...] } for FLOATS)`);
  } else if (typeof v === 'string') {
    /* STRING */
  } else if (v && typeof v === 'object' && 'f' in v) {
    if (typeof v.f !== 'number' || Number.isNaN(v.f)) throw new Error(`${where}: { f } must be a number, found ${JSON.stringify(v.f)}`);
  } else if (v && typeof v === 'object' && 'floats' in v) {
    if (!Array.isArray(v.floats) || v.floats.some((x) => typeof x !== 'number' || Number.isNaN(x))) throw new Error(`${where}: { floats } must be an array of numbers`);
  } else {
    throw new Error(`${where} has an unsupported value ${JSON.stringify(v)} (expected an integer, integer[], string, { f } or { floats })`);
  }
}

function encodeAttr(name: string, v: OnnxAttr): ProtoWriter {
  // AttributeProto: name = 1, f = 2, i = 3, s = 4, floats = 7, ints = 8, type = 20
  const a = new ProtoWriter();
  a.string(1, name);
  if (typeof v === 'number') {
    a.int(20, ATTR_INT);
    a.int(3, v);
  } else if (Array.isArray(v)) {
    a.int(20, ATTR_INTS);
    for (const x of v) a.int(8, x);
  } else if (typeof v === 'string') {
    a.int(20, ATTR_STRING);
    a.string(4, v);
  } else if ('f' in v) {
    a.int(20, ATTR_FLOAT);
    a.float(2, v.f);
  } else {
    a.int(20, ATTR_FLOATS);
    for (const x of v.floats) a.float(7, x);
  }
  return a;
}

function encodeNode(n: Node): ProtoWriter {
  // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of n.attrs) w.message(5, encodeAttr(k, v));
  return w;
}

function encodeTensor(t: Initializer): ProtoWriter {
  // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, elemType(t.dtype));
  w.string(8, t.name);
  w.bytes(9, littleEndianBytes(t.data));
  return w;
}

function encodeValueInfo(v: ValueInfo): ProtoWriter {
  // ValueInfoProto: name = 1, type = 2; TypeProto: tensor_type = 1; Tensor: elem_type = 1, shape = 2;
  // TensorShapeProto: dim = 1; Dimension: dim_value = 1, dim_param = 2
  const tensor = new ProtoWriter();
  tensor.int(1, elemType(v.dtype));
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      if (typeof d === 'number') dim.int(1, d);
      else dim.string(2, d);
      shape.message(1, dim);
    }
    tensor.message(2, shape);
  }
  const type = new ProtoWriter();
  type.message(1, tensor);
  const w = new ProtoWriter();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}
