/**
 * The reference loops of the fused recurrent cells (LSTM, GRU): one time step's gate arithmetic forward
 * and backward over a sequence's buffers (`CellBuffers`). The hidden-to-hidden product of each step is a
 * separate matmul the caller makes; these loops take it (`hh`) and do everything elementwise. Each value
 * is computed in JavaScript numbers (doubles) in the order written below and stored once; a value used
 * again within the step is the double, not what the store rounded. No allocation.
 *
 * LSTM (gates i, f, g, o, PyTorch's order), per row and hidden unit j, step t:
 *   a_k = (hh_k + b_k) + pre_k;  i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
 *   c' = f·c + i·g;  τ = tanh(c');  h' = o·τ;  saved: i, f, g, o, τ
 * backward, given carry = ∂L/∂c' and dh = gOut + dhRec (dhRec = the next step's dgates·W_hh):
 *   dc = carry + (dh·o)·(1 − τ·τ);  do = ((dh·τ)·(1 − o))·o;  di = ((dc·g)·(1 − i))·i;
 *   dg = (dc·i)·(1 − g·g);  df = ((dc·c)·(1 − f))·f;  carry ← dc·f
 * GRU (gates r, z, n; b_hn inside r ⊙ (…), as PyTorch):
 *   r = σ((hh_r + b_r) + pre_r), z = σ((hh_z + b_z) + pre_z), m = hh_n + b_n, n = tanh(pre_n + r·m),
 *   h' = (h − n)·z + n;  saved: r, z, n, m
 * backward, given carry = the part of ∂L/∂h' that skipped the product (dh·z of the step after):
 *   dh = (gOut + dhRec) + carry;  dn = (dh·(1 − z))·(1 − n·n);  dz = ((dh·(h − n))·(1 − z))·z;
 *   dr = ((dn·m)·(1 − r))·r;  dPre = dr, dz, dn;  dHh = dr, dz, dn·r;  carry ← dh·z
 * σ(x) = 1 / (1 + exp(−x)) and tanh are `src/libm.ts`'s, as the unary kernels'.
 */
import { exp, tanh } from '../libm.js';
import type { CellBuffers } from './types.js';

function sigmoid(x: number): number {
  return 1 / (1 + exp(-x));
}

/** Values saved per hidden unit and step: LSTM i, f, g, o, tanh c'; GRU r, z, n, m. */
export const SAVED_PER_UNIT = { lstm: 5, gru: 4 } as const;

/** Gate blocks per hidden unit: LSTM 4, GRU 3. */
export const GATES = { lstm: 4, gru: 3 } as const;

/** One step's forward: see the file comment and `Kernels.cellForward`. */
export function cellForward(b: CellBuffers, t: number): void {
  if (b.cell === 'lstm') lstmForward(b, t);
  else gruForward(b, t);
}

/** One step's backward: see the file comment and `Kernels.cellBackward`. */
export function cellBackward(b: CellBuffers, t: number): void {
  if (b.cell === 'lstm') lstmBackward(b, t);
  else gruBackward(b, t);
}

function lstmForward(b: CellBuffers, t: number): void {
  const { rows, hidden: H, pre, hh, bias, saved, h } = b;
  const c = b.c as NonNullable<CellBuffers['c']>;
  const G = 4 * H;
  const S = 5 * H;
  for (let r = 0; r < rows; r++) {
    const p = (t * rows + r) * G;
    const q = r * G;
    const s = (t * rows + r) * S;
    const prev = (t * rows + r) * H;
    const next = prev + rows * H;
    for (let j = 0; j < H; j++) {
      const i = sigmoid(hh[q + j] + bias[j] + pre[p + j]);
      const f = sigmoid(hh[q + H + j] + bias[H + j] + pre[p + H + j]);
      const g = tanh(hh[q + 2 * H + j] + bias[2 * H + j] + pre[p + 2 * H + j]);
      const o = sigmoid(hh[q + 3 * H + j] + bias[3 * H + j] + pre[p + 3 * H + j]);
      const cn = f * c[prev + j] + i * g;
      const tc = tanh(cn);
      saved[s + j] = i;
      saved[s + H + j] = f;
      saved[s + 2 * H + j] = g;
      saved[s + 3 * H + j] = o;
      saved[s + 4 * H + j] = tc;
      c[next + j] = cn;
      h[next + j] = o * tc;
    }
  }
}

function lstmBackward(b: CellBuffers, t: number): void {
  const { rows, hidden: H, saved, gOut, dhRec, carry, dPre } = b;
  const c = b.c as NonNullable<CellBuffers['c']>;
  const G = 4 * H;
  const S = 5 * H;
  for (let r = 0; r < rows; r++) {
    const p = (t * rows + r) * G;
    const s = (t * rows + r) * S;
    const st = r * H;
    const prev = (t * rows + r) * H;
    for (let j = 0; j < H; j++) {
      const i = saved[s + j];
      const f = saved[s + H + j];
      const g = saved[s + 2 * H + j];
      const o = saved[s + 3 * H + j];
      const tc = saved[s + 4 * H + j];
      const dh = gOut[prev + j] + dhRec[st + j];
      const dc = carry[st + j] + dh * o * (1 - tc * tc);
      dPre[p + j] = dc * g * (1 - i) * i;
      dPre[p + H + j] = dc * c[prev + j] * (1 - f) * f;
      dPre[p + 2 * H + j] = dc * i * (1 - g * g);
      dPre[p + 3 * H + j] = dh * tc * (1 - o) * o;
      carry[st + j] = dc * f;
    }
  }
}

function gruForward(b: CellBuffers, t: number): void {
  const { rows, hidden: H, pre, hh, bias, saved, h } = b;
  const G = 3 * H;
  const S = 4 * H;
  for (let r = 0; r < rows; r++) {
    const p = (t * rows + r) * G;
    const q = r * G;
    const s = (t * rows + r) * S;
    const prev = (t * rows + r) * H;
    const next = prev + rows * H;
    for (let j = 0; j < H; j++) {
      const rg = sigmoid(hh[q + j] + bias[j] + pre[p + j]);
      const z = sigmoid(hh[q + H + j] + bias[H + j] + pre[p + H + j]);
      const m = hh[q + 2 * H + j] + bias[2 * H + j];
      const n = tanh(pre[p + 2 * H + j] + rg * m);
      saved[s + j] = rg;
      saved[s + H + j] = z;
      saved[s + 2 * H + j] = n;
      saved[s + 3 * H + j] = m;
      h[next + j] = (h[prev + j] - n) * z + n;
    }
  }
}

function gruBackward(b: CellBuffers, t: number): void {
  const { rows, hidden: H, saved, h, gOut, dhRec, carry, dPre, dHh } = b;
  const G = 3 * H;
  const S = 4 * H;
  for (let r = 0; r < rows; r++) {
    const p = (t * rows + r) * G;
    const s = (t * rows + r) * S;
    const st = r * H;
    const prev = (t * rows + r) * H;
    for (let j = 0; j < H; j++) {
      const rg = saved[s + j];
      const z = saved[s + H + j];
      const n = saved[s + 2 * H + j];
      const m = saved[s + 3 * H + j];
      const dh = gOut[prev + j] + dhRec[st + j] + carry[st + j];
      const dn = dh * (1 - z) * (1 - n * n);
      const dz = dh * (h[prev + j] - n) * (1 - z) * z;
      const dr = dn * m * (1 - rg) * rg;
      dPre[p + j] = dr;
      dPre[p + H + j] = dz;
      dPre[p + 2 * H + j] = dn;
      dHh[p + j] = dr;
      dHh[p + H + j] = dz;
      dHh[p + 2 * H + j] = dn * rg;
      carry[st + j] = dh * z;
    }
  }
}
