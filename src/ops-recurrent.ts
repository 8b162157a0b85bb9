/**
 * The fused recurrent layers: one graph node runs an LSTM or GRU layer over a whole sequence, forward
 * and backward. Each step is one matmul (h·W_hhᵀ; back, the gate gradients times W_hh) and one kernel call
 * for the gate arithmetic (`Kernels.cellForward`/`cellBackward`, reference loops in
 * `kernels/recurrent.ts`); the weight gradient of W_hh is one product over all steps after the loop, and
 * b_hh's one column sum. The buffers are made once per sequence (in the kernel set's memory where it has
 * one, so the WebAssembly set works on them in place); nothing is allocated per step or per element.
 */
import { kernels, kernelStorage } from './kernels/index.js';
import { GATES, SAVED_PER_UNIT } from './kernels/recurrent.js';
import type { CellBuffers, Storage } from './kernels/types.js';
import { assertTensor, cast, result } from './ops.js';
import { fmt } from './shape.js';
import { allocStorage, type Tensor } from './tensor.js';

/**
 * One LSTM or GRU layer over a sequence, as one graph node. `pre` [T, batch, G·H] is the input part of
 * the gates (x·W_ihᵀ + b_ih; G = 4 for an LSTM, gates i, f, g, o; 3 for a GRU, r, z, n), `weightHh`
 * [G·H, H] and `biasHh` [G·H] (or null) PyTorch's, `h0` and `c0` [batch, H] the initial states (null:
 * zeros; `c0` for an LSTM only). Returns [T, batch, H], each step's h, and for an LSTM one more row:
 * [T + 1, batch, H] with the final cell state last. Runs the steps in order t = 0 … T − 1.
 */
export function recurrentSequence(
  cell: 'lstm' | 'gru',
  pre: Tensor,
  weightHh: Tensor,
  biasHh: Tensor | null,
  h0: Tensor | null,
  c0: Tensor | null,
): Tensor {
  const op = cell === 'lstm' ? 'lstmSequence' : 'gruSequence';
  assertTensor(pre, op);
  assertTensor(weightHh, op);
  const G = GATES[cell];
  const [T, B, GH] = pre.shape;
  const H = weightHh.shape[1];
  const want = (t: Tensor | null, shape: number[], what: string) => {
    if (t !== null && (t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i])))
      throw new Error(`${op}: ${what} has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
  };
  if (pre.ndim !== 3 || weightHh.ndim !== 2 || GH !== G * H || weightHh.shape[0] !== G * H)
    throw new Error(
      `${op}: pre ${fmt(pre.shape)} and weightHh ${fmt(weightHh.shape)} do not fit: expected [T, batch, ${G}·H] and [${G}·H, H]`,
    );
  want(biasHh, [G * H], 'biasHh');
  want(h0, [B, H], 'h0');
  want(c0, [B, H], 'c0');
  if (cell === 'gru' && c0 !== null) throw new Error(`${op}: a GRU has no cell state`);
  const dtype = pre.dtype;
  const w = cast(weightHh, dtype);
  const bh = biasHh && cast(biasHh, dtype);
  const hi = h0 && cast(h0, dtype);
  const ci = c0 && cast(c0, dtype);
  const k = kernels();
  const BH = B * H;
  const buf = (n: number) => kernelStorage(dtype, n);
  // In the kernel set's memory: the matmuls and cell kernels use them where they lie.
  const whh = buf(G * H * H);
  whh.set(w.data);
  const preBuf = buf(T * B * GH);
  preBuf.set(pre.data);
  const bias = buf(GH);
  if (bh) bias.set(bh.data);
  const h = buf((T + 1) * BH);
  if (hi) h.set(hi.data);
  const c = cell === 'lstm' ? buf((T + 1) * BH) : null;
  if (c && ci) c.set(ci.data);
  const hh = buf(B * GH);
  const empty = preBuf.subarray(0, 0);
  const b: CellBuffers = {
    cell,
    rows: B,
    hidden: H,
    pre: preBuf,
    hh,
    bias,
    saved: buf(T * B * SAVED_PER_UNIT[cell] * H),
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
  const out = allocStorage(dtype, rows * BH);
  out.set(h.subarray(BH));
  if (c) out.set(c.subarray(T * BH), T * BH);
  k.free?.(hh);
  k.free?.(preBuf);
  const inputs = [pre, w];
  if (bh) inputs.push(bh);
  if (hi) inputs.push(hi);
  if (ci) inputs.push(ci);
  return result(out, cell === 'lstm' ? [T + 1, B, H] : [T, B, H], op, inputs, (g: Storage) => {
    const kb = kernels();
    const gOut = buf(T * BH);
    gOut.set(g.subarray(0, T * BH));
    const carry = buf(BH);
    if (cell === 'lstm') carry.set(g.subarray(T * BH));
    const dhRec = buf(BH);
    const dPre = buf(T * B * GH);
    const dHh = cell === 'lstm' ? dPre : buf(T * B * GH);
    b.gOut = gOut;
    b.carry = carry;
    b.dhRec = dhRec;
    b.dPre = dPre;
    b.dHh = dHh;
    for (let t = T - 1; t >= 0; t--) {
      kb.cellBackward(b, t);
      kb.matmul(dHh, t * B * GH, whh, 0, dhRec, 0, B, GH, H, false, false);
    }
    // dW_hh = Σ_t dHh_tᵀ·h_t over all steps at once: [G·H, T·B] by [T·B, H].
    const dW = allocStorage(dtype, G * H * H);
    kb.matmul(dHh, 0, h, 0, dW, 0, GH, T * B, H, true, false);
    const grads: (Storage | null)[] = [dPre, dW];
    if (bh) {
      const dB = allocStorage(dtype, GH);
      kb.reduce('sum', dHh, [T * B, GH], dB, [1, GH]);
      grads.push(dB);
    }
    if (hi) {
      const dh0 = allocStorage(dtype, BH);
      dh0.set(dhRec);
      // A GRU's h₀ also reaches h₁ directly, besides through the product.
      if (cell === 'gru') kb.accumulate(dh0, carry);
      grads.push(dh0);
    }
    if (ci) {
      const dc0 = allocStorage(dtype, BH);
      dc0.set(carry);
      grads.push(dc0);
    }
    for (const s of [gOut, dhRec, carry]) kb.free?.(s);
    if (dHh !== dPre) kb.free?.(dHh);
    b.gOut = b.dhRec = b.carry = b.dPre = b.dHh = empty;
    return grads;
  });
}
