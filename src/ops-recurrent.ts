/**
 * The fused recurrent layers: one graph node runs an LSTM or GRU layer over a whole sequence, forward
 * and backward. The input projection of all steps is one product (+ b_ih) into the gates' input part;
 * then each step is one matmul (h·W_hhᵀ; back, the gate gradients times W_hh) and one kernel call for the
 * gate arithmetic (`Kernels.cellForward`/`cellBackward`, reference loops in `kernels/recurrent.ts`); the
 * weight gradients are one product each over all steps after the loop, the biases' one column sum each.
 * The buffers are made once per sequence (in the kernel set's memory where it has one, so the
 * WebAssembly set works on them in place); nothing is allocated per step or per element.
 */
import { kernels, kernelStorage } from './kernels/index.js';
import { GATES, SAVED_PER_UNIT } from './kernels/recurrent.js';
import type { CellBuffers, Kernels, Storage } from './kernels/types.js';
import { assertTensor, cast, result } from './ops.js';
import { broadcastPlan, fmt } from './shape.js';
import { scratchStorage, type Tensor } from './tensor.js';

/** One layer-and-direction's parameters in PyTorch's layouts (G gate blocks of H units). */
export interface SequenceParameters {
  /** [G·H, input]. */
  weightIh: Tensor;
  /** [G·H, H]. */
  weightHh: Tensor;
  /** [G·H], or null without bias. */
  biasIh: Tensor | null;
  /** [G·H], or null without bias. */
  biasHh: Tensor | null;
}

/**
 * Buffers in the kernel set's memory, kept for the next sequence instead of allocated anew: allocating
 * a resident array costs far more than its size in time (a view on the shared memory, a finalizer), and
 * a training step makes a dozen per layer. A buffer comes back when its step is done: scratch at once, the
 * forward's saved state once autograd has released the node (backward without retainGraph) — checked at
 * the next call. Taken buffers hold stale values: callers zero what they read before writing.
 */
const POOL_BYTES = 64 * 2 ** 20;

class BufferPool {
  private readonly free = new Map<string, Storage[]>();
  /** Nodes whose saved buffers come back once released; the node weakly, so a dropped graph costs nothing. */
  private pending: { node: WeakRef<{ backward: unknown }>; buffers: Storage[] }[] = [];

  constructor(private readonly k: Kernels) {}

  /** Bytes held in `free`. */
  private bytes = 0;

  take(dtype: 'float32' | 'float64', n: number): Storage {
    const b = this.free.get(`${dtype}${n}`)?.pop();
    if (!b) return kernelStorage(dtype, n);
    this.bytes -= b.byteLength;
    return b;
  }

  give(buffers: readonly (Storage | null)[]): void {
    for (const b of buffers) {
      if (b === null) continue;
      const key = `${b instanceof Float64Array ? 'float64' : 'float32'}${b.length}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      // A few per size, 64 MiB in all: enough for the layers and directions of a model; the rest go back.
      if (list.length < 8 && this.bytes + b.byteLength <= POOL_BYTES) {
        list.push(b);
        this.bytes += b.byteLength;
      } else this.k.free?.(b);
    }
  }

  /** Give `buffers` back once autograd has released `node` (its backward is null: it can no longer run). */
  giveWhenReleased(node: { backward: unknown }, buffers: Storage[]): void {
    this.pending.push({ node: new WeakRef(node), buffers });
    // Graphs dropped without a backward are forgotten (their buffers go with the garbage collector).
    if (this.pending.length > 64) this.pending.shift();
  }

  /** Take back the buffers of released nodes; forget those whose node is gone. */
  collect(): void {
    if (this.pending.length === 0) return;
    const keep: typeof this.pending = [];
    for (const p of this.pending) {
      const node = p.node.deref();
      if (node === undefined) continue;
      if (node.backward === null) this.give(p.buffers);
      else keep.push(p);
    }
    this.pending = keep;
  }
}

const pools = new WeakMap<Kernels, BufferPool>();

/** @internal The buffer pool of kernel set `k` (the fused recurrent layers' and attention's). */
export function poolOf(k: Kernels): BufferPool {
  let p = pools.get(k);
  if (!p) pools.set(k, (p = new BufferPool(k)));
  return p;
}

/**
 * One LSTM or GRU layer over a sequence, as one graph node. `x` [T, batch, input]; the parameters
 * PyTorch's (G = 4 for an LSTM, gates i, f, g, o; 3 for a GRU, r, z, n); `h0` and `c0` [batch, H] the
 * initial states (null: zeros; `c0` for an LSTM only). The gates' input part is x·W_ihᵀ + b_ih, each
 * step's hidden part h·W_hhᵀ, and the cell adds (hh + b_hh) + that (the order of PyTorch's composed
 * formula). Returns [T, batch, H], each step's h, and for an LSTM one more row: [T + 1, batch, H] with
 * the final cell state last. Runs the steps in order t = 0 … T − 1 (reverse a sequence before and after
 * for the backward direction).
 */
export function recurrentSequence(
  cell: 'lstm' | 'gru',
  x: Tensor,
  p: SequenceParameters,
  h0: Tensor | null,
  c0: Tensor | null,
): Tensor {
  const op = cell === 'lstm' ? 'lstmSequence' : 'gruSequence';
  assertTensor(x, op);
  assertTensor(p.weightIh, op);
  assertTensor(p.weightHh, op);
  const G = GATES[cell];
  const [T, B, I] = x.shape;
  const H = p.weightHh.shape[1];
  const GH = G * H;
  const want = (t: Tensor | null, shape: number[], what: string) => {
    if (t !== null && (t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i])))
      throw new Error(`${op}: ${what} has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
  };
  if (x.ndim !== 3 || T < 1)
    throw new Error(`${op}: x has shape ${fmt(x.shape)}, expected [T ≥ 1, batch, input]`);
  want(p.weightHh, [GH, H], 'weightHh');
  want(p.weightIh, [GH, I], 'weightIh');
  want(p.biasIh, [GH], 'biasIh');
  want(p.biasHh, [GH], 'biasHh');
  want(h0, [B, H], 'h0');
  want(c0, [B, H], 'c0');
  if (cell === 'gru' && c0 !== null) throw new Error(`${op}: a GRU has no cell state`);
  const dtype = x.dtype;
  const wi = cast(p.weightIh, dtype);
  const wh = cast(p.weightHh, dtype);
  const bi = p.biasIh && cast(p.biasIh, dtype);
  const bh = p.biasHh && cast(p.biasHh, dtype);
  const hi = h0 && cast(h0, dtype);
  const ci = c0 && cast(c0, dtype);
  const k = kernels();
  const pool = poolOf(k);
  pool.collect();
  const BH = B * H;
  const TB = T * B;
  const buf = (n: number) => pool.take(dtype, n);
  // In the kernel set's memory: the matmuls and cell kernels use them where they lie.
  const xs = buf(TB * I);
  xs.set(x.data);
  const wih = buf(GH * I);
  wih.set(wi.data);
  const whh = buf(GH * H);
  whh.set(wh.data);
  const pre = buf(TB * GH);
  k.matmul(xs, 0, wih, 0, pre, 0, TB, I, GH, false, true);
  if (bi) k.binary('add', pre, bi.data, pre, broadcastPlan([TB, GH], [GH], op));
  const bias = buf(GH);
  if (bh) bias.set(bh.data);
  else bias.fill(0);
  const h = buf((T + 1) * BH);
  if (hi) h.set(hi.data);
  else h.fill(0, 0, BH);
  const c = cell === 'lstm' ? buf((T + 1) * BH) : null;
  if (c && ci) c.set(ci.data);
  else c?.fill(0, 0, BH);
  const hh = buf(B * GH);
  const empty = pre.subarray(0, 0);
  const b: CellBuffers = {
    cell,
    rows: B,
    hidden: H,
    pre,
    hh,
    bias,
    saved: buf(TB * SAVED_PER_UNIT[cell] * H),
    h,
    c,
    gOut: empty,
    dhRec: empty,
    carry: empty,
    dPre: empty,
    dHh: empty,
  };
  for (let t = 0; t < T; t++) {
    k.matmul(h, t * BH, whh, 0, hh, 0, B, H, GH, false, true);
    k.cellForward(b, t);
  }
  const rows = cell === 'lstm' ? T + 1 : T;
  const out = scratchStorage(dtype, rows * BH);
  out.set(h.subarray(BH));
  if (c) out.set(c.subarray(T * BH), T * BH);
  pool.give([hh, pre]);
  const inputs = [x, wi, wh];
  if (bi) inputs.push(bi);
  if (bh) inputs.push(bh);
  if (hi) inputs.push(hi);
  if (ci) inputs.push(ci);
  const y = result(out, cell === 'lstm' ? [T + 1, B, H] : [T, B, H], op, inputs, (g: Storage) => {
    const kb = kernels();
    const gOut = buf(T * BH);
    gOut.set(g.subarray(0, T * BH));
    const carry = buf(BH);
    if (cell === 'lstm') carry.set(g.subarray(T * BH));
    else carry.fill(0);
    const dhRec = buf(BH).fill(0);
    const dPre = buf(TB * GH);
    const dHh = cell === 'lstm' ? dPre : buf(TB * GH);
    b.gOut = gOut;
    b.carry = carry;
    b.dhRec = dhRec;
    b.dPre = dPre;
    b.dHh = dHh;
    for (let t = T - 1; t >= 0; t--) {
      kb.cellBackward(b, t);
      kb.matmul(dHh, t * B * GH, whh, 0, dhRec, 0, B, GH, H, false, false);
    }
    // Over all steps at once: dx = dPre·W_ih, dW_ih = dPreᵀ·x, dW_hh = dHhᵀ·h_t ([G·H, T·B] by [T·B, H]).
    const dx = scratchStorage(dtype, TB * I);
    kb.matmul(dPre, 0, wih, 0, dx, 0, TB, GH, I, false, false);
    const dWi = scratchStorage(dtype, GH * I);
    kb.matmul(dPre, 0, xs, 0, dWi, 0, GH, TB, I, true, false);
    const dWh = scratchStorage(dtype, GH * H);
    kb.matmul(dHh, 0, h, 0, dWh, 0, GH, TB, H, true, false);
    const grads: (Storage | null)[] = [dx, dWi, dWh];
    const columnSum = (d: Storage) => {
      const s = scratchStorage(dtype, GH);
      kb.reduce('sum', d, [TB, GH], s, [1, GH]);
      return s;
    };
    // An LSTM's b_ih and b_hh get the same gradient (dHh is dPre): one sum, two copies.
    const dBi = bi ? columnSum(dPre) : null;
    if (dBi) grads.push(dBi);
    if (bh) grads.push(dBi && dHh === dPre ? dBi.slice() : columnSum(dHh));
    if (hi) {
      const dh0 = scratchStorage(dtype, BH);
      dh0.set(dhRec);
      // A GRU's h₀ also reaches h₁ directly, besides through the product.
      if (cell === 'gru') kb.accumulate(dh0, carry);
      grads.push(dh0);
    }
    if (ci) {
      const dc0 = scratchStorage(dtype, BH);
      dc0.set(carry);
      grads.push(dc0);
    }
    pool.give([gOut, dhRec, carry, dPre, dHh === dPre ? null : dHh]);
    b.gOut = b.dhRec = b.carry = b.dPre = b.dHh = empty;
    return grads;
  });
  const saved = [xs, wih, whh, bias, b.saved, h, ...(c ? [c] : [])];
  // Without a graph (noGrad, or no input needs a gradient) nothing reads the buffers again.
  const node = y._node;
  if (node === null) pool.give(saved);
  else pool.giveWhenReleased(node, saved);
  return y;
}
