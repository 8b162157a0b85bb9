/**
 * The reference loops of the sliding-window kernels: convolution (forward, input and weight gradients)
 * and max / average pooling over NCHW data. Each follows the summation order its contract in
 * `types.ts` states, and a convolution's taps in the padding read zeros as im2col's columns hold, so
 * the WebAssembly set (im2col into the packed product) gives the same bits in float64. They accumulate
 * in JavaScript numbers (float64) and never allocate per element.
 */
import type { Conv2dGeometry, Storage, Window2d } from './types.js';

/** out = x ⋆ w (+ bias): see `Kernels.conv2d`. */
export function conv2d(x: Storage, w: Storage, bias: Storage | null, out: Storage, g: Conv2dGeometry): void {
  const { batch, channels, inH, inW, outChannels, outH, outW, kH, kW, groups } = g;
  const { strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const cpg = channels / groups;
  const opg = outChannels / groups;
  const kSize = cpg * kH * kW;
  const plane = inH * inW;
  let o = 0;
  for (let n = 0; n < batch; n++) {
    for (let co = 0; co < outChannels; co++) {
      const xGroup = (n * channels + Math.floor(co / opg) * cpg) * plane;
      const wBase = co * kSize;
      const b = bias === null ? 0 : bias[co];
      for (let oh = 0; oh < outH; oh++) {
        const ih0 = oh * strideH - padH;
        for (let ow = 0; ow < outW; ow++) {
          const iw0 = ow * strideW - padW;
          let s = 0;
          for (let ci = 0; ci < cpg; ci++) {
            const xc = xGroup + ci * plane;
            const wc = wBase + ci * kH * kW;
            for (let kh = 0; kh < kH; kh++) {
              const ih = ih0 + kh * dilationH;
              const rowInside = ih >= 0 && ih < inH;
              const xr = xc + ih * inW;
              const wr = wc + kh * kW;
              for (let kw = 0; kw < kW; kw++) {
                const iw = iw0 + kw * dilationW;
                // A tap in the padding reads zero: w·0 is added (NaN for an infinite w), as im2col's zeros.
                s += w[wr + kw] * (rowInside && iw >= 0 && iw < inW ? x[xr + iw] : 0);
              }
            }
          }
          out[o++] = bias === null ? s : s + b;
        }
      }
    }
  }
}

/** gx = col2im(Wᵀ·gOut): see `Kernels.conv2dInputGrad`. */
export function conv2dInputGrad(gOut: Storage, w: Storage, gx: Storage, g: Conv2dGeometry): void {
  const { batch, channels, inH, inW, outChannels, outH, outW, kH, kW, groups } = g;
  const { strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const cpg = channels / groups;
  const opg = outChannels / groups;
  const kSize = cpg * kH * kW;
  const plane = inH * inW;
  const outPlane = outH * outW;
  gx.fill(0);
  for (let n = 0; n < batch; n++) {
    for (let grp = 0; grp < groups; grp++) {
      const gBase = (n * outChannels + grp * opg) * outPlane;
      for (let ci = 0; ci < cpg; ci++) {
        const xc = (n * channels + grp * cpg + ci) * plane;
        for (let kh = 0; kh < kH; kh++) {
          for (let kw = 0; kw < kW; kw++) {
            const wk = grp * opg * kSize + (ci * kH + kh) * kW + kw;
            for (let oh = 0; oh < outH; oh++) {
              const ih = oh * strideH - padH + kh * dilationH;
              if (ih < 0 || ih >= inH) continue;
              for (let ow = 0; ow < outW; ow++) {
                const iw = ow * strideW - padW + kw * dilationW;
                if (iw < 0 || iw >= inW) continue;
                let t = 0;
                const p = gBase + oh * outW + ow;
                for (let co = 0; co < opg; co++) t += w[wk + co * kSize] * gOut[p + co * outPlane];
                gx[xc + ih * inW + iw] += t;
              }
            }
          }
        }
      }
    }
  }
}

/** gw = Σₙ gOut·colsᵀ: see `Kernels.conv2dWeightGrad`. */
export function conv2dWeightGrad(x: Storage, gOut: Storage, gw: Storage, g: Conv2dGeometry): void {
  const { batch, channels, inH, inW, outChannels, outH, outW, kH, kW, groups } = g;
  const { strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const cpg = channels / groups;
  const opg = outChannels / groups;
  const plane = inH * inW;
  const outPlane = outH * outW;
  let o = 0;
  for (let co = 0; co < outChannels; co++) {
    const grp = Math.floor(co / opg);
    for (let ci = 0; ci < cpg; ci++) {
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          let s = 0;
          for (let n = 0; n < batch; n++) {
            const xc = (n * channels + grp * cpg + ci) * plane;
            const gc = (n * outChannels + co) * outPlane;
            for (let oh = 0; oh < outH; oh++) {
              const ih = oh * strideH - padH + kh * dilationH;
              const rowInside = ih >= 0 && ih < inH;
              for (let ow = 0; ow < outW; ow++) {
                const iw = ow * strideW - padW + kw * dilationW;
                // A tap in the padding reads zero, as in the forward pass.
                s +=
                  gOut[gc + oh * outW + ow] * (rowInside && iw >= 0 && iw < inW ? x[xc + ih * inW + iw] : 0);
              }
            }
          }
          gw[o++] = s;
        }
      }
    }
  }
}

/** Max pooling with the winners' positions: see `Kernels.maxPool2d`. */
export function maxPool2d(x: Storage, out: Storage, argmax: Int32Array, g: Window2d): void {
  const { batch, channels, inH, inW, outH, outW, kH, kW } = g;
  const { strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const plane = inH * inW;
  let o = 0;
  for (let c = 0; c < batch * channels; c++) {
    const base = c * plane;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * strideH - padH;
      for (let ow = 0; ow < outW; ow++) {
        const iw0 = ow * strideW - padW;
        let best = -Infinity;
        let at = -1;
        for (let kh = 0; kh < kH; kh++) {
          const ih = ih0 + kh * dilationH;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < kW; kw++) {
            const iw = iw0 + kw * dilationW;
            if (iw < 0 || iw >= inW) continue;
            const v = x[base + ih * inW + iw];
            // As PyTorch: a NaN always takes over (so the last NaN wins), else only a strictly greater value.
            if (v > best || at === -1 || v !== v) {
              best = v;
              at = ih * inW + iw;
            }
          }
        }
        out[o] = best;
        argmax[o++] = at;
      }
    }
  }
}

/** Route each output's gradient back to its winner: see `Kernels.maxPool2dGrad`. */
export function maxPool2dGrad(gOut: Storage, argmax: Int32Array, gx: Storage, g: Window2d): void {
  const plane = g.inH * g.inW;
  const outPlane = g.outH * g.outW;
  gx.fill(0);
  let o = 0;
  for (let c = 0; c < g.batch * g.channels; c++) {
    const base = c * plane;
    for (let i = 0; i < outPlane; i++, o++) if (argmax[o] >= 0) gx[base + argmax[o]] += gOut[o];
  }
}

/** PyTorch's average-pooling divisor for the window starting at (h0, w0) of the padded input. */
function divisor(h0: number, w0: number, g: Window2d, countIncludePad: boolean): number {
  let h1 = Math.min(h0 + g.kH, g.inH + g.padH);
  let w1 = Math.min(w0 + g.kW, g.inW + g.padW);
  if (countIncludePad) return (h1 - h0) * (w1 - w0);
  h1 = Math.min(h1, g.inH);
  w1 = Math.min(w1, g.inW);
  return (h1 - Math.max(h0, 0)) * (w1 - Math.max(w0, 0));
}

/** Average pooling: see `Kernels.avgPool2d`. */
export function avgPool2d(x: Storage, out: Storage, g: Window2d, countIncludePad: boolean): void {
  const { batch, channels, inH, inW, outH, outW, kH, kW, strideH, strideW, padH, padW } = g;
  const plane = inH * inW;
  let o = 0;
  for (let c = 0; c < batch * channels; c++) {
    const base = c * plane;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padH;
      const hs = Math.max(h0, 0);
      const he = Math.min(h0 + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padW;
        const ws = Math.max(w0, 0);
        const we = Math.min(w0 + kW, inW);
        let s = 0;
        for (let ih = hs; ih < he; ih++) for (let iw = ws; iw < we; iw++) s += x[base + ih * inW + iw];
        out[o++] = s / divisor(h0, w0, g, countIncludePad);
      }
    }
  }
}

/** Spread each output's gradient evenly over its window: see `Kernels.avgPool2dGrad`. */
export function avgPool2dGrad(gOut: Storage, gx: Storage, g: Window2d, countIncludePad: boolean): void {
  const { batch, channels, inH, inW, outH, outW, kH, kW, strideH, strideW, padH, padW } = g;
  const plane = inH * inW;
  gx.fill(0);
  let o = 0;
  for (let c = 0; c < batch * channels; c++) {
    const base = c * plane;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padH;
      const hs = Math.max(h0, 0);
      const he = Math.min(h0 + kH, inH);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padW;
        const ws = Math.max(w0, 0);
        const we = Math.min(w0 + kW, inW);
        const t = gOut[o++] / divisor(h0, w0, g, countIncludePad);
        for (let ih = hs; ih < he; ih++) for (let iw = ws; iw < we; iw++) gx[base + ih * inW + iw] += t;
      }
    }
  }
}
