/**
 * BigGAN-deep inference through onnxruntime-node (native MLAS GEMMs): the block stack as an ONNX graph built once
 * from the fast path's resident, folded quantities (src/fast.ts), run by an ORT CPU session.
 *
 * Split: tfjs computes the cheap per-call conditioning (class embedding, cond vector, the one projection matmul to
 * every conditional BN's per-sample affine x·A + B, gen_z) — `FastGenerator.conditioning` — and feeds it as graph
 * inputs; the graph (NCHW, W/σ transposed once HWIO → OIHW as initializers, dynamic batch 'N') runs the residual
 * blocks, attention, the final BN + ReLU, the 3-channel conv_to_rgb, tanh, and a Transpose back to NHWC.
 *
 * Graph inputs: h0 [N, 4, 4, C0] (NHWC), A / B [N, ΣC_bn, 1, 1], finalA / finalB [1, C, 1, 1]; output image
 * [N, R, R, 3]. The session is built lazily on the first call and rebuilt when the fast plan rebuilds (weights changed:
 * FastGenerator.version), released by dispose().
 */
import * as tf from '@tensorflow/tfjs';
import { OnnxGraph, OrtSession, createOrtSession, requireOnnxRuntime, loadOnnxRuntime } from '@ganzoo/core';
import { GeneratorConfig } from './config';
import { FastGenerator } from './fast';
import { GenModule } from './generator';

export interface OnnxGeneratorOptions {
  /** ORT intra-op threads (default: core's defaultOrtThreads(): GANZOO_ORT_THREADS, else the core count). */
  threads?: number;
  /** Spin idle ORT pool threads (default false; see core createOrtSession). */
  spinning?: boolean;
}

interface SessionRef {
  session: OrtSession;
  users: number;
  retired: boolean;
  released: boolean;
}

/** Float32 copy of a tensor's values, laid out OIHW from an HWIO conv weight. */
function oihw(w: tf.Tensor): { data: Float32Array; dims: number[] } {
  const [kh, kw, ci, co] = w.shape;
  const t = tf.tidy(() => tf.transpose(w, [3, 2, 0, 1]));
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return { data: Float32Array.from(data), dims: [co, ci, kh, kw] };
}

/** Float32 copy of a 2-D tensor's transpose. */
function f32Transposed(m: tf.Tensor): Float32Array {
  const t = tf.tidy(() => tf.transpose(m));
  const data = Float32Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return data;
}

function f32(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}

/** The ONNX-engine plan of one generator. Shares (does not own) the FastGenerator it reads its weights from. */
export class OnnxGenerator {
  private current: { version: number; ready: Promise<SessionRef> } | null = null;
  private disposed = false;

  constructor(private readonly fast: FastGenerator, private readonly g: GeneratorConfig, private readonly opts: OnnxGeneratorOptions = {}) {}

  /** True when onnxruntime-node can be loaded. */
  static available(): boolean {
    return loadOnnxRuntime() !== null;
  }

  /** Whether an ORT session exists (or is being built). */
  get hasSession(): boolean {
    return this.current !== null;
  }

  /** The graph of the block stack from the fast plan's current weights (call `fast.refresh()` first). */
  buildGraph(): OnnxGraph {
    const g = this.g;
    const fast = this.fast;
    const gr = new OnnxGraph('biggan-deep');
    const c0 = g.ch * g.layers[0][1];
    const nBn = fast.bnChannels;
    const mods = fast.modules;
    const last = mods.filter((m): m is Extract<GenModule, { kind: 'block' }> => m.kind === 'block');
    const cLast = last[last.length - 1].cout;
    gr.input('h0', ['N', 4, 4, c0]);
    const A = gr.input('A', ['N', nBn, 1, 1]);
    const B = gr.input('B', ['N', nBn, 1, 1]);
    const finalA = gr.input('finalA', [1, cLast, 1, 1]);
    const finalB = gr.input('finalB', [1, cLast, 1, 1]);
    const ax1 = gr.int64([1]);
    const slice1 = (x: string, from: number, to: number) => gr.node('Slice', [x, gr.int64([from]), gr.int64([to]), ax1]);
    const affineRelu = (x: string, prefix: string) => {
      const s = fast.bnSlot(prefix);
      const a = slice1(A, s.offset, s.offset + s.channels);
      const b = slice1(B, s.offset, s.offset + s.channels);
      return gr.node('Relu', [gr.node('Add', [gr.node('Mul', [x, a]), b])]);
    };
    const conv = (x: string, name: string, w: tf.Tensor, b: tf.Tensor | null) => {
      const k = oihw(w);
      const wi = gr.initializer(`${name}.weight`, k.data, k.dims);
      const ins = [x, wi];
      if (b) ins.push(gr.initializer(`${name}.bias`, f32(b), [b.shape[0]]));
      const p = (k.dims[2] - 1) / 2;
      return gr.node('Conv', ins, { kernel_shape: [k.dims[2], k.dims[3]], pads: [p, p, p, p] });
    };
    const scales = gr.float32([1, 1, 2, 2]);
    const up = (x: string) => gr.node('Resize', [x, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });

    let h = gr.node('Transpose', ['h0'], { perm: [0, 3, 1, 2] });
    let size = 4;
    for (const m of mods) {
      const p = `generator.layers.${m.index}`;
      if (m.kind === 'attention') {
        h = this.attentionNodes(gr, p, h, m.channels, size);
        continue;
      }
      if (m.up) size *= 2;
      let y = affineRelu(h, `${p}.bn_0`);
      y = conv(y, `${p}.conv_0`, fast.weight(`${p}.conv_0.w`), fast.weight(`${p}.conv_0.b`));
      y = affineRelu(y, `${p}.bn_1`);
      if (m.up) y = up(y);
      y = conv(y, `${p}.conv_1`, fast.weight(`${p}.conv_1.w`), fast.weight(`${p}.conv_1.b`));
      y = affineRelu(y, `${p}.bn_2`);
      y = conv(y, `${p}.conv_2`, fast.weight(`${p}.conv_2.w`), fast.weight(`${p}.conv_2.b`));
      y = affineRelu(y, `${p}.bn_3`);
      y = conv(y, `${p}.conv_3`, fast.weight(`${p}.conv_3.w`), fast.weight(`${p}.conv_3.b`));
      // skip: the first `cout` channels of x, upsampled with the block
      let s = m.cin !== m.cout ? slice1(h, 0, m.cout) : h;
      if (m.up) s = up(s);
      h = gr.node('Add', [y, s]);
    }
    h = gr.node('Relu', [gr.node('Add', [gr.node('Mul', [h, finalA]), finalB])]);
    h = gr.node('Tanh', [conv(h, 'generator.conv_to_rgb', fast.weight('rgb.w'), fast.weight('rgb.b'))]);
    gr.output(gr.node('Transpose', [h], { perm: [0, 2, 3, 1] }, { outputs: ['image'] }), ['N', g.resolution, g.resolution, 3]);
    return gr;
  }

  /** SAGAN attention in NCHW: θ|φ|g as one 1×1 conv, φ/g max-pooled 2×2, softmax(θᵀφ), γ·W_o folded, + x. */
  private attentionNodes(gr: OnnxGraph, p: string, x: string, c: number, size: number): string {
    const dk = Math.floor(c / 8);
    const dv = Math.floor(c / 2);
    const qkvM = this.fast.weight(`${p}.qkv`); // [C, 2dk + dv]
    const oM = this.fast.weight(`${p}.o`); // [dv, C]
    // a [Cin, Cout] matrix as a 1×1 conv weight [Cout, Cin, 1, 1]
    const asConv = (m: tf.Tensor) => ({ data: f32Transposed(m), dims: [m.shape[1]!, m.shape[0], 1, 1] });
    const qkvW = asConv(qkvM);
    const oW = asConv(oM);
    const qkv = gr.node('Conv', [x, gr.initializer(`${p}.qkv.weight`, qkvW.data, qkvW.dims)]); // [N, 2dk+dv, H, W]
    const ax1 = gr.int64([1]);
    const theta = gr.node('Slice', [qkv, gr.int64([0]), gr.int64([dk]), ax1]);
    const pooled = gr.node('MaxPool', [gr.node('Slice', [qkv, gr.int64([dk]), gr.int64([2 * dk + dv]), ax1])], { kernel_shape: [2, 2], strides: [2, 2] });
    const phi = gr.node('Slice', [pooled, gr.int64([0]), gr.int64([dk]), ax1]);
    const gv = gr.node('Slice', [pooled, gr.int64([dk]), gr.int64([dk + dv]), ax1]);
    // flatten the spatial axes: [N, C', H·W]
    const flat = (t: string, ch: number) => gr.node('Reshape', [t, gr.int64([0, ch, -1])]);
    const thetaT = gr.node('Transpose', [flat(theta, dk)], { perm: [0, 2, 1] }); // [N, HW, dk]
    const logits = gr.node('MatMul', [thetaT, flat(phi, dk)]); // [N, HW, HW/4], θᵀφ without 1/√d
    const beta = gr.node('Softmax', [logits], { axis: -1 });
    const gT = gr.node('Transpose', [flat(gv, dv)], { perm: [0, 2, 1] }); // [N, HW/4, dv]
    const attnT = gr.node('MatMul', [beta, gT]); // [N, HW, dv]
    const attn = gr.node('Transpose', [attnT], { perm: [0, 2, 1] }); // [N, dv, HW]
    const attn4 = gr.node('Reshape', [attn, gr.int64([0, dv, size, size])]); // [N, dv, H, W]
    const o = gr.node('Conv', [attn4, gr.initializer(`${p}.o.weight`, oW.data, oW.dims)]);
    return gr.node('Add', [x, o]);
  }

  private retire(ref: SessionRef): void {
    ref.retired = true;
    if (ref.users === 0 && !ref.released) {
      ref.released = true;
      ref.session.release().catch(() => undefined);
    }
  }

  /** The session for the fast plan's current build, (re)built when the weights changed. */
  private sessionFor(version: number): Promise<SessionRef> {
    if (this.current && this.current.version === version) return this.current.ready;
    const old = this.current;
    const bytes = this.buildGraph().toBytes();
    const ready = createOrtSession(bytes, { threads: this.opts.threads, spinning: this.opts.spinning })
      .then((session) => ({ session, users: 0, retired: false, released: false }));
    const entry = { version, ready };
    this.current = entry;
    ready.catch(() => {
      if (this.current === entry) this.current = null;
    });
    old?.ready.then((r) => this.retire(r), () => undefined);
    return ready;
  }

  /** G(z, y, truncation) -> [B, R, R, 3] in [-1, 1] (NHWC), computed by ORT. Leaves no tensor but the result. */
  async forward(z: tf.Tensor2D, classVector: tf.Tensor2D, truncation: number): Promise<tf.Tensor4D> {
    if (this.disposed) throw new Error('BigGAN-deep ONNX engine: used after dispose()');
    const ort = requireOnnxRuntime("BigGAN-deep engine 'onnxruntime'");
    const version = this.fast.refresh();
    const B = z.shape[0];
    const nBn = this.fast.bnChannels;
    // the conditioning now, synchronously, so it matches the weights of `version`
    let feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    tf.tidy(() => {
      const c = this.fast.conditioning(z, classVector, truncation);
      const cl = c.finalA.shape[0];
      feeds = {
        h0: new ort.Tensor('float32', f32(c.h0), c.h0.shape),
        A: new ort.Tensor('float32', f32(c.a), [B, nBn, 1, 1]),
        B: new ort.Tensor('float32', f32(c.b), [B, nBn, 1, 1]),
        finalA: new ort.Tensor('float32', f32(c.finalA), [1, cl, 1, 1]),
        finalB: new ort.Tensor('float32', f32(c.finalB), [1, cl, 1, 1]),
      };
    });
    const ref = await this.sessionFor(version);
    if (ref.released) throw new Error('BigGAN-deep ONNX engine: the session was released while this call waited (dispose() or a concurrent weight change)');
    ref.users++;
    let out: any;
    try {
      out = (await ref.session.run(feeds)).image;
    } finally {
      ref.users--;
      if (ref.retired) this.retire(ref);
    }
    return tf.tensor4d(out.data as Float32Array, out.dims as [number, number, number, number]);
  }

  /** Release the ORT session (after calls in flight). The plan can not be used afterwards. */
  dispose(): void {
    this.disposed = true;
    const cur = this.current;
    this.current = null;
    cur?.ready.then((r) => this.retire(r), () => undefined);
  }
}
