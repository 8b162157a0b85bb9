/**
 * The reference loops of fused scaled dot-product attention (`Kernels.attentionScores`,
 * `attentionContext`, `attentionBackward`; the geometry is `AttentionGeometry`). They follow the composed
 * path's order of operations (MultiheadAttention's reshape, swap, divide, matmulTransposed, causal bias,
 * softmax, matmul), so in float64 they give its bits, and in float32 too on the reference set: every
 * value the composed path stores is stored here in the same element type (a product's sum runs in a double
 * from zero in order and is rounded once, as the reference matmul's), and the softmax's sums are doubles,
 * as `ops.softmax`'s. Masked positions (key j after query i, causal) are skipped in every sum: their terms
 * are ±0 in the composed path (P = 0, finite operands), which leave a sum that started from +0 unchanged.
 * One scratch array per call; nothing per element.
 */
import type { AttentionGeometry, Storage } from './types.js';

/** Elements of the scratch array a call needs: q ÷ √D of one (batch, head) pair, and for the backward dS. */
function scratch(like: Storage, n: number): Storage {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/** Keys query row i sees: all S, or the first min(i + 1, S) when causal. */
export function keysSeen(g: AttentionGeometry, i: number): number {
  return g.causal ? Math.min(i + 1, g.keys) : g.keys;
}

/** qs[i·D + d] = q[b, i, h·D + d] / √D (the composed path's division, stored in q's type). */
function scaledQuery(q: Storage, g: AttentionGeometry, b: number, h: number, qs: Storage): void {
  const { headDim: D, queries: L } = g;
  const s = Math.sqrt(D);
  for (let i = 0; i < L; i++) {
    const row = g.qOffset + (b * L + i) * g.qStride + h * D;
    for (let d = 0; d < D; d++) qs[i * D + d] = q[row + d] / s;
  }
}

/**
 * Elements of the packed scores of one (batch, head) pair: the keys each query row sees, Σ_i seen(i)
 * (L·S without the causal mask; L(L + 1)/2 with it when L = S).
 */
export function packedScores(g: AttentionGeometry): number {
  let n = 0;
  for (let i = 0; i < g.queries; i++) n += keysSeen(g, i);
  return n;
}

/** Kernels.attentionScores: s = q·kᵀ/√D per head, minus each row's max, the seen keys of each row packed. */
export function attentionScores(q: Storage, k: Storage, s: Storage, g: AttentionGeometry): void {
  const { batch: B, heads: H, headDim: D, queries: L, keys: S } = g;
  const qs = scratch(s, L * D);
  let row = 0;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      scaledQuery(q, g, b, h, qs);
      for (let i = 0; i < L; i++) {
        const n = keysSeen(g, i);
        for (let j = 0; j < n; j++) {
          const kr = g.kOffset + (b * S + j) * g.kStride + h * D;
          let acc = 0;
          for (let d = 0; d < D; d++) acc += qs[i * D + d] * k[kr + d];
          s[row + j] = acc;
        }
        // The row max of what was stored; a row whose max is not finite is shifted by 0 (ops.softmax).
        let m = -Infinity;
        for (let j = 0; j < n; j++) if (s[row + j] > m) m = s[row + j];
        if (!Number.isFinite(m)) m = 0;
        for (let j = 0; j < n; j++) s[row + j] = s[row + j] - m;
        row += n;
      }
    }
}

/**
 * Kernels.attentionContext: P = each packed row of exponentials divided by its float64 sum, laid out
 * [B, H, L, S] with 0 where masked; then out = P·v with heads merged.
 */
export function attentionContext(
  e: Storage,
  v: Storage,
  p: Storage,
  out: Storage,
  g: AttentionGeometry,
): void {
  const { batch: B, heads: H, headDim: D, queries: L, keys: S } = g;
  const E = H * D;
  let at = 0;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < L; i++) {
        const row = ((b * H + h) * L + i) * S;
        const n = keysSeen(g, i);
        let sum = 0;
        for (let j = 0; j < n; j++) sum += e[at + j];
        for (let j = 0; j < n; j++) p[row + j] = e[at + j] / sum;
        for (let j = n; j < S; j++) p[row + j] = 0;
        at += n;
        const o = (b * L + i) * E + h * D;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < n; j++) acc += p[row + j] * v[g.vOffset + (b * S + j) * g.vStride + h * D + d];
          out[o + d] = acc;
        }
      }
}

/** Kernels.attentionBackward: dq, dk, dv from dOut and the saved probabilities. */
export function attentionBackward(
  gOut: Storage,
  q: Storage,
  k: Storage,
  v: Storage,
  p: Storage,
  gq: Storage,
  gk: Storage,
  gv: Storage,
  g: AttentionGeometry,
): void {
  const { batch: B, heads: H, headDim: D, queries: L, keys: S } = g;
  const E = H * D;
  const s = Math.sqrt(D);
  const qs = scratch(p, L * D);
  const dS = scratch(p, L * S);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      scaledQuery(q, g, b, h, qs);
      const P = (b * H + h) * L * S;
      // dP = dO·vᵀ (stored, as the product's output), then dS = P·(dP − Σ dP·P) per row.
      for (let i = 0; i < L; i++) {
        const n = keysSeen(g, i);
        const go = (b * L + i) * E + h * D;
        for (let j = 0; j < n; j++) {
          const vr = g.vOffset + (b * S + j) * g.vStride + h * D;
          let acc = 0;
          for (let d = 0; d < D; d++) acc += gOut[go + d] * v[vr + d];
          dS[i * S + j] = acc;
        }
        let dot = 0;
        for (let j = 0; j < n; j++) dot += dS[i * S + j] * p[P + i * S + j];
        for (let j = 0; j < n; j++) dS[i * S + j] = p[P + i * S + j] * (dS[i * S + j] - dot);
      }
      // dq = (dS·k) / √D: the product stored, then divided (the composed path's divScalar backward).
      for (let i = 0; i < L; i++) {
        const n = keysSeen(g, i);
        const o = g.qOffset + (b * L + i) * g.qStride + h * D;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < n; j++)
            acc += dS[i * S + j] * k[g.kOffset + (b * S + j) * g.kStride + h * D + d];
          gq[o + d] = acc;
          gq[o + d] = gq[o + d] / s;
        }
      }
      // dk = dSᵀ·(q/√D) and dv = Pᵀ·dO, each over the queries that see key j.
      for (let j = 0; j < S; j++) {
        const from = g.causal ? j : 0;
        const ko = g.kOffset + (b * S + j) * g.kStride + h * D;
        const vo = g.vOffset + (b * S + j) * g.vStride + h * D;
        for (let d = 0; d < D; d++) {
          let ak = 0;
          let av = 0;
          for (let i = from; i < L; i++) {
            ak += dS[i * S + j] * qs[i * D + d];
            av += p[P + i * S + j] * gOut[(b * L + i) * E + h * D + d];
          }
          gk[ko + d] = ak;
          gv[vo + d] = av;
        }
      }
    }
}
