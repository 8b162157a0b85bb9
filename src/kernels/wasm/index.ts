/**
 * The WebAssembly SIMD kernel set. Operands in ordinary typed arrays are copied into the module's memory
 * and the result back out, O(n²) against a matrix product's O(n³); arrays the set handed out itself
 * (`alloc`: on a shared memory, where views survive growth) are used where they lie. The set runs in
 * wasm what wins after the copies and hands everything else (and products too small to pay for them) to
 * the reference kernels, which stay the oracle.
 */
import { linearBackwardComposed, linearComposed } from '../linear.js';
import { referenceKernels } from '../reference.js';
import { selection } from '../state.js';
import type { AttentionGeometry, Conv2dGeometry, Kernels, Storage } from '../types.js';
import { UNARY } from './elementwise.js';
import type { WasmDType } from './gemm.js';
import { relaxedSimdSupported, simdSupported } from './module.js';
import { autoThreads, autoThreadsSync, MAX_THREADS } from './pool.js';
import { WasmRuntime, type RuntimeOptions } from './runtime.js';

/** Options of {@link loadWasmKernels}. */
export interface WasmKernelOptions {
  /**
   * Relaxed SIMD's fused multiply-add in matrix products, where the runtime has it (Chromium, Node ≥ 22;
   * Node 20 only with `--experimental-wasm-relaxed-simd`). `'auto'` (the default): in float32 products,
   * about 20% faster; float64 products stay plain SIMD, exact to the bit everywhere (the dtype of the
   * fixtures, the teaching views and the playground). `true`: in both. `false`: nowhere, so float32 results
   * too are the same bits in every runtime. A fused multiply-add rounds once where a multiply and an add
   * round twice: results differ from plain SIMD's in the last bits, between runtimes that have relaxed SIMD
   * and those that do not; on one runtime they are the same for every run and thread count.
   */
  relaxed?: boolean | 'auto';
  /**
   * Products of fewer multiply-adds (m·k·n) than this run in the reference kernel, where copying operands
   * in and out costs more than SIMD saves (default 128, about where the two are equally fast).
   */
  minMatmulWork?: number;
  /** Elementwise ops on fewer elements than this run in the reference kernels (default 64). */
  minElements?: number;
  /**
   * Threads that share large matrix products, the calling thread included: a number, or 'auto' for the
   * cores this process may use (`os.availableParallelism()` in Node, `navigator.hardwareConcurrency` in
   * browsers). Default 1. Results are the same bits for every thread count: each element of the product is
   * computed by one thread, in the same order. The workers start on the first product large enough to use
   * them and never keep a Node process alive. Where threads cannot work (no `SharedArrayBuffer`, i.e. a
   * page that is not cross-origin isolated, or a browser's main thread, which may not block in
   * `Atomics.wait`) the set runs on one thread; its `name` says how many it uses.
   */
  threads?: number | 'auto';
  /**
   * How long (ms, at least) a product waits for a worker's part before taking that worker for lost and
   * computing the part itself (default 10 000). A worker that fails or is lost gets no more work.
   */
  workerTimeoutMs?: number;
  /**
   * Products of fewer multiply-adds (m·k·n) than this stay on the calling thread even with `threads` > 1
   * (default 2²²). Waking a sleeping worker costs tens of microseconds: on 2 cores (Node 20, x64), fitting
   * the 784-128-10 MLP at batch 64 (two 64×784×128 products a step, 2²²·⁶ each) ran at 80–85k samples/s
   * with them split against 65k on one thread (with the fused step's buffers in wasm memory; before
   * that, when copies dominated, splitting them was 10% slower).
   */
  minThreadWork?: number;
}

/** Default of {@link WasmKernelOptions.minThreadWork}. */
const MIN_THREAD_WORK = 2 ** 22;

/** Default of {@link WasmKernelOptions.minMatmulWork}: at 4×4×4 the reference is 3× faster, at 8×8×8 2× slower. */
const MIN_MATMUL_WORK = 128;

/** Default of {@link WasmKernelOptions.minElements}. */
const MIN_ELEMENTS = 64;

/** The element type shared by all the arrays, or null when they mix (the reference handles that). */
function dtypeOf(a: Storage, b: Storage, c: Storage, d: Storage = c): WasmDType | null {
  if (a instanceof Float32Array)
    return b instanceof Float32Array && c instanceof Float32Array && d instanceof Float32Array ? 'f32' : null;
  return b instanceof Float64Array && c instanceof Float64Array && d instanceof Float64Array ? 'f64' : null;
}

/**
 * Whether a reduction of `xShape` to `outShape` keeps trailing axes whole and reduces only leading ones
 * (outShape is 1, …, 1, then xShape's own sizes), so out[j] combines x[r·cols + j] over rows r.
 */
function keepsTrailing(xShape: readonly number[], outShape: readonly number[]): boolean {
  let d = outShape.length - 1;
  while (d >= 0 && outShape[d] === xShape[d]) d--;
  for (; d >= 0; d--) if (outShape[d] !== 1) return false;
  return true;
}

/** Whether a reduction of `xShape` to `outShape` reduces the last axis alone (softmax's row max and sum). */
function reducesLast(xShape: readonly number[], outShape: readonly number[]): boolean {
  const d = xShape.length - 1;
  if (d < 0 || outShape[d] !== 1) return false;
  for (let i = 0; i < d; i++) if (outShape[i] !== xShape[i]) return false;
  return true;
}

/**
 * Whether a reduction of `xShape` to `outShape` keeps one block of middle axes and reduces the rest, the
 * last axis among them (a convolution's bias gradient: [N, C, H·W] → [1, C, 1]): x seen as [outer, outs,
 * per, cols] with outs the kept block, cols the last axis; null otherwise.
 */
function keepsMiddle(
  xShape: readonly number[],
  outShape: readonly number[],
): { outer: number; per: number; cols: number } | null {
  const nd = xShape.length;
  if (nd < 2 || outShape[nd - 1] !== 1 || xShape[nd - 1] === 1) return null;
  // Kept axes (out = x, not 1) must form one block; reduced ones (out = 1) lie before or after it.
  let first = -1;
  let last = -1;
  for (let d = 0; d < nd; d++)
    if (outShape[d] !== 1) {
      if (outShape[d] !== xShape[d]) return null;
      if (first < 0) first = d;
      last = d;
    }
  if (first < 0) return null;
  for (let d = first; d <= last; d++) if (outShape[d] !== xShape[d]) return null;
  const product = (from: number, to: number) => xShape.slice(from, to).reduce((p, v) => p * v, 1);
  return { outer: product(0, first), per: product(last + 1, nd - 1), cols: xShape[nd - 1] };
}

/**
 * Whether this runtime can run the WebAssembly kernels (it has WebAssembly with fixed-width SIMD). Where
 * it cannot, {@link loadWasmKernels} resolves to null and {@link useWasmKernels} to false.
 */
export function wasmKernelsAvailable(): boolean {
  return simdSupported();
}

/**
 * Compile the WebAssembly SIMD kernels: a kernel set to pass to `setKernels`, or null where the runtime
 * has no WebAssembly SIMD (it rejects if the runtime refuses to compile the module). Each call makes its
 * own module and memory.
 */
export async function loadWasmKernels(options: WasmKernelOptions = {}): Promise<Kernels | null> {
  if (!simdSupported()) return null;
  const wanted = options.threads === 'auto' ? await autoThreads() : (options.threads ?? 1);
  return wasmKernelSet(await WasmRuntime.create(runtimeOptions(options, wanted)), options);
}

/**
 * {@link loadWasmKernels} synchronously, for runtimes that allow large synchronous compiles (Node, Web
 * Workers; a browser's main thread throws): null without WebAssembly SIMD; throws where the runtime
 * refuses to compile. In a Node before 20.16 (no `process.getBuiltinModule`) it runs on one thread.
 */
export function loadWasmKernelsSync(options: WasmKernelOptions = {}): Kernels | null {
  if (!simdSupported()) return null;
  const wanted = options.threads === 'auto' ? autoThreadsSync() : (options.threads ?? 1);
  return wasmKernelSet(WasmRuntime.createSync(runtimeOptions(options, wanted)), options);
}

/** What the runtime is built with: `options` resolved against what this runtime supports. */
function runtimeOptions(options: WasmKernelOptions, wantedThreads: number): RuntimeOptions {
  const wants = options.relaxed ?? 'auto';
  const relaxed = wants !== false && relaxedSimdSupported();
  return {
    relaxed,
    relaxed64: wants === true && relaxed,
    threads: Math.max(1, Math.min(MAX_THREADS, Math.floor(wantedThreads) || 1)),
    minThreadWork: Math.max(1, options.minThreadWork ?? MIN_THREAD_WORK),
    workerTimeoutMs: options.workerTimeoutMs,
  };
}

/** The kernel set over a runtime: wasm where it pays, the reference elsewhere. */
function wasmKernelSet(rt: WasmRuntime, options: WasmKernelOptions): Kernels {
  const relaxed = rt.features.relaxed;
  const relaxed64 = rt.features.relaxed64 ?? false;
  const ref = referenceKernels;
  // An empty product (k = 0 included) goes to the reference, which writes the zeros.
  const minWork = Math.max(1, options.minMatmulWork ?? MIN_MATMUL_WORK);
  const minElements = Math.max(1, options.minElements ?? MIN_ELEMENTS);
  // Normalization pays for its copies and per-group setup from about 4× that (Node 20, 2 cores: the three
  // kernels on 64 elements 0.9 µs in the reference, 1.7 in wasm; on 256, 3.2 and 2.2).
  const minNorm = 4 * minElements;
  // A convolution runs in wasm when its products are big enough to pay for the copies and its fixed costs
  // (tables, packing: about 2 µs, the reference's time for some 500 multiply-adds on 2 cores, Node 20),
  // and not empty (then the reference writes what little there is).
  const worthIt = (g: Conv2dGeometry) =>
    g.batch * g.outChannels * g.outH * g.outW * (g.channels / g.groups) * g.kH * g.kW >= 4 * minWork;
  // Attention in wasm when its products are worth the copies; causal only for L = S (the wasm loops' mask).
  const attentionWorth = (g: AttentionGeometry) =>
    (!g.causal || g.queries === g.keys) && g.batch * g.heads * g.queries * g.keys * g.headDim >= 4 * minWork;
  // Each method runs in wasm when the op has a wasm version, the arrays share an element type and are big
  // enough, and the memory could grow to hold them; otherwise the reference does the work. The size is
  // checked first: the calls of a tiny network are many and each must cost no more than the reference's.
  const set: Kernels = {
    ...ref,
    name:
      (relaxed64 ? 'wasm-simd-relaxed' : relaxed ? 'wasm-simd-relaxed32' : 'wasm-simd') +
      (rt.threads > 1 ? `-threads${rt.threads}` : ''),
    dispose() {
      rt.dispose();
    },
    referenceMatmulBelow: minWork,
    referenceElementsBelow: minElements,
    alloc(dtype, n, scratch) {
      return rt.alloc(dtype === 'float32' ? 'f32' : 'f64', n, scratch);
    },
    free(storage) {
      rt.free(storage);
    },
    matmul(a, ao, b, bo, c, co, m, k, n, transA, transB) {
      if (m * k * n < minWork) return ref.matmul(a, ao, b, bo, c, co, m, k, n, transA, transB);
      const dt = dtypeOf(a, b, c);
      if (dt === null || !rt.matmul(dt, a, ao, b, bo, c, co, m, k, n, transA, transB))
        ref.matmul(a, ao, b, bo, c, co, m, k, n, transA, transB);
    },
    matmulBatched(a, ao, b, bo, c, m, k, n, transA, transB) {
      if (m * k * n < minWork) return ref.matmulBatched(a, ao, b, bo, c, m, k, n, transA, transB);
      const dt = dtypeOf(a, b, c);
      if (dt === null || !rt.matmulBatched(dt, a, ao, b, bo, c, m, k, n, transA, transB))
        ref.matmulBatched(a, ao, b, bo, c, m, k, n, transA, transB);
    },
    attentionScores(q, k, s, g) {
      const dt = attentionWorth(g) ? dtypeOf(q, k, s) : null;
      if (dt === null || !rt.attentionScores(dt, q, k, s, g)) ref.attentionScores(q, k, s, g);
    },
    attentionContext(e, v, p, out, g) {
      const dt = attentionWorth(g) ? dtypeOf(e, v, p, out) : null;
      if (dt === null || !rt.attentionContext(dt, e, v, p, out, g)) ref.attentionContext(e, v, p, out, g);
    },
    attentionBackward(gOut, q, k, v, p, gq, gk, gv, g) {
      const dt = attentionWorth(g) ? dtypeOf(gOut, q, k, v) : null;
      if (
        dt === null ||
        dtypeOf(p, gq, gk, gv) !== dt ||
        !rt.attentionBackward(dt, gOut, q, k, v, p, gq, gk, gv, g)
      )
        ref.attentionBackward(gOut, q, k, v, p, gq, gk, gv, g);
    },
    unary(op, x, out, p0, p1) {
      if (x.length < minElements) return ref.unary(op, x, out, p0, p1);
      const rule = UNARY[op].forward;
      const dt = dtypeOf(x, out, out);
      if (
        rule === null ||
        (rule.when && !rule.when(p0, p1)) ||
        dt === null ||
        !rt.unary(dt, op, x, out, p0, p1)
      )
        ref.unary(op, x, out, p0, p1);
    },
    unaryGrad(op, x, y, g, out, p0, p1) {
      if (g.length < minElements) return ref.unaryGrad(op, x, y, g, out, p0, p1);
      const rule = UNARY[op].grad;
      const dt = dtypeOf(x, y, g, out);
      if (
        rule === null ||
        (rule.when && !rule.when(p0, p1)) ||
        dt === null ||
        !rt.unaryGrad(dt, op, rule.inputs, x, y, g, out, p0, p1)
      )
        ref.unaryGrad(op, x, y, g, out, p0, p1);
    },
    binary(op, a, b, out, plan) {
      if (plan.size < minElements) return ref.binary(op, a, b, out, plan);
      const dt = dtypeOf(a, b, out);
      const layout = plan.kind;
      if (layout === 'general' || dt === null || !rt.binary(dt, op, layout, a, b, out, plan.size))
        ref.binary(op, a, b, out, plan);
    },
    reduce(op, x, xShape, out, outShape) {
      if (x.length < minElements) return ref.reduce(op, x, xShape, out, outShape);
      const dt = dtypeOf(x, out, out);
      const middle = out.length >= 2 ? keepsMiddle(xShape, outShape) : null;
      const done =
        dt !== null &&
        (out.length >= 2 && keepsTrailing(xShape, outShape)
          ? rt.reduceCols(dt, op, x, out, x.length / out.length, out.length)
          : reducesLast(xShape, outShape)
            ? rt.reduceRows(dt, op, x, out, out.length, x.length / out.length)
            : middle !== null && rt.reduceInto(dt, op, x, out, middle.outer, middle.per, middle.cols));
      if (!done) ref.reduce(op, x, xShape, out, outShape);
    },
    sgd(p, g, buf, h) {
      if (p.length < minElements) return ref.sgd(p, g, buf, h);
      const dt = dtypeOf(p, g, buf ?? p);
      if (dt === null || !rt.sgd(dt, p, g, buf, h)) ref.sgd(p, g, buf, h);
    },
    adam(p, g, m, v, vmax, h) {
      if (p.length < minElements) return ref.adam(p, g, m, v, vmax, h);
      const dt = dtypeOf(p, g, m, v);
      if (
        dt === null ||
        (vmax !== null && dtypeOf(p, vmax, vmax) === null) ||
        !rt.adam(dt, p, g, m, v, vmax, h)
      )
        ref.adam(p, g, m, v, vmax, h);
    },
    rmsprop(p, g, sq, ga, buf, h) {
      if (p.length < minElements) return ref.rmsprop(p, g, sq, ga, buf, h);
      const dt = dtypeOf(p, g, sq, ga ?? sq);
      if (
        dt === null ||
        (buf !== null && dtypeOf(p, buf, buf) === null) ||
        !rt.rmsprop(dt, p, g, sq, ga, buf, h)
      )
        ref.rmsprop(p, g, sq, ga, buf, h);
    },
    adagrad(p, g, sum, h) {
      if (p.length < minElements) return ref.adagrad(p, g, sum, h);
      const dt = dtypeOf(p, g, sum);
      if (dt === null || !rt.adagrad(dt, p, g, sum, h)) ref.adagrad(p, g, sum, h);
    },
    conv2d(x, w, bias, out, g) {
      const dt = dtypeOf(x, w, out, bias ?? out);
      if (dt === null || !worthIt(g) || !rt.conv2d(dt, x, w, bias, out, g)) ref.conv2d(x, w, bias, out, g);
    },
    conv2dInputGrad(gOut, w, gx, g) {
      const dt = dtypeOf(gOut, w, gx);
      if (dt === null || !worthIt(g) || !rt.conv2dInputGrad(dt, gOut, w, gx, g))
        ref.conv2dInputGrad(gOut, w, gx, g);
    },
    conv2dWeightGrad(x, gOut, gw, g) {
      const dt = dtypeOf(x, gOut, gw);
      if (dt === null || !worthIt(g) || !rt.conv2dWeightGrad(dt, x, gOut, gw, g))
        ref.conv2dWeightGrad(x, gOut, gw, g);
    },
    maxPool2d(x, out, argmax, g) {
      const dt = out.length < minElements ? null : dtypeOf(x, out, out);
      if (dt === null || !rt.maxPool2d(dt, x, out, argmax, g)) ref.maxPool2d(x, out, argmax, g);
    },
    maxPool2dGrad(gOut, argmax, gx, g) {
      const dt = gOut.length < minElements ? null : dtypeOf(gOut, gx, gx);
      if (dt === null || !rt.maxPool2dGrad(dt, gOut, argmax, gx, g)) ref.maxPool2dGrad(gOut, argmax, gx, g);
    },
    avgPool2d(x, out, g, countIncludePad) {
      const dt = out.length < minElements ? null : dtypeOf(x, out, out);
      if (dt === null || !rt.avgPool2d(dt, x, out, g, countIncludePad))
        ref.avgPool2d(x, out, g, countIncludePad);
    },
    avgPool2dGrad(gOut, gx, g, countIncludePad) {
      const dt = gOut.length < minElements ? null : dtypeOf(gOut, gx, gx);
      if (dt === null || !rt.avgPool2dGrad(dt, gOut, gx, g, countIncludePad))
        ref.avgPool2dGrad(gOut, gx, g, countIncludePad);
    },
    cellForward(b, t) {
      const dt = dtypeOf(b.pre, b.hh, b.saved, b.h);
      if (dt === null || dtypeOf(b.bias, b.c ?? b.h, b.h) !== dt || !rt.cellForward(dt, b, t))
        ref.cellForward(b, t);
    },
    cellBackward(b, t) {
      const dt = dtypeOf(b.saved, b.gOut, b.dPre, b.carry);
      if (dt === null || dtypeOf(b.dhRec, b.dHh, b.c ?? b.h, b.h) !== dt || !rt.cellBackward(dt, b, t))
        ref.cellBackward(b, t);
    },
    moments(x, g, mean, variance) {
      const dt = x.length < minNorm ? null : dtypeOf(x, mean, variance);
      if (dt === null || !rt.moments(dt, x, g, mean, variance)) ref.moments(x, g, mean, variance);
    },
    normalize(x, g, mean, variance, scale, shift, out) {
      const dt = x.length < minNorm ? null : dtypeOf(x, mean, variance, out);
      if (
        dt === null ||
        dtypeOf(x, scale ?? x, shift ?? x) !== dt ||
        !rt.normalize(dt, x, g, mean, variance, scale, shift, out)
      )
        ref.normalize(x, g, mean, variance, scale, shift, out);
    },
    normalizeGrad(gOut, x, g, mean, variance, scale, batchStats, gx, gScale, gShift) {
      const dt = x.length < minNorm ? null : dtypeOf(gOut, x, mean, variance);
      if (
        dt === null ||
        dtypeOf(scale ?? x, gx ?? x, gScale ?? x, gShift ?? x) !== dt ||
        !rt.normalizeGrad(dt, gOut, x, g, mean, variance, scale, batchStats, gx, gScale, gShift)
      )
        ref.normalizeGrad(gOut, x, g, mean, variance, scale, batchStats, gx, gScale, gShift);
    },
    accumulate(acc, x) {
      if (acc.length < minElements) return ref.accumulate(acc, x);
      const dt = dtypeOf(acc, x, acc);
      if (dt === null || !rt.binary(dt, 'add', 'same', acc, x, acc, acc.length)) ref.accumulate(acc, x);
    },
    // A Linear layer in one call each way where its product runs in wasm (the bias add and the bias
    // gradient too when the composed calls would run them in wasm: the same loops, so the same bits);
    // otherwise the composed calls themselves.
    linear(x, w, bias, out, rows, k, n, transW) {
      const fits = rows * k * n >= minWork && (bias === null || (n >= 2 && rows * n >= minElements));
      const dt = fits ? dtypeOf(x, w, out, bias ?? out) : null;
      if (dt === null || !rt.linear(dt, x, w, bias, out, rows, k, n, transW))
        linearComposed(set, x, w, bias, out, rows, k, n, transW);
    },
    linearBackward(g, x, w, gx, gw, gb, rows, k, n, transW) {
      const products = gx !== null || gw !== null;
      const dt = products && rows * k * n >= minWork ? dtypeOf(g, x, w) : null;
      const same = (s: Storage | null) => s === null || dtypeOf(g, s, s) === dt;
      // The bias gradient in wasm where `reduce` would sum its columns there.
      const wasmDb = gb !== null && n >= 2 && g.length >= minElements;
      if (
        dt === null ||
        !same(gx) ||
        !same(gw) ||
        !same(gb) ||
        !rt.linearBackward(dt, g, x, w, gx, gw, wasmDb ? gb : null, rows, k, n, transW)
      )
        return linearBackwardComposed(set, g, x, w, gx, gw, gb, rows, k, n, transW);
      if (gb !== null && !wasmDb) ref.reduce('sum', g, [rows, n], gb, [1, n]);
    },
  };
  return set;
}

/** The set useWasmKernels made last and the options it was made with, so calling it again is cheap. */
let current: { key: string; kernels: Promise<Kernels | null> } | null = null;

/**
 * Load the WebAssembly SIMD kernels and make them the active set. Resolves to whether they were enabled:
 * false where the runtime lacks WebAssembly SIMD or refuses to compile (a page whose Content Security
 * Policy lacks 'wasm-unsafe-eval'), and the reference kernels stay active. `setKernels(referenceKernels)`
 * switches back; calling this again with the same options reuses the module already compiled.
 */
export async function useWasmKernels(options: WasmKernelOptions = {}): Promise<boolean> {
  const key = JSON.stringify([
    options.relaxed ?? 'auto',
    options.minMatmulWork,
    options.minElements,
    options.threads ?? 1,
    options.minThreadWork,
  ]);
  if (current?.key !== key) current = { key, kernels: loadWasmKernels(options).catch(() => null) };
  const k = await current.kernels;
  if (k === null) return false;
  selection.active = k;
  return true;
}
