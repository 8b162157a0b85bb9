/**
 * One instantiated kernel module: its memory, the copies of operands in and out of it, and the loops
 * that drive the exported functions. Everything here takes the element type already checked; choosing
 * between wasm and the reference kernels is `index.ts`'s job.
 */
import type { BinaryOp, Storage, UnaryOp } from '../types.js';
import { BINARY, names, UNARY, UNARY_GRAD, type BinaryLayout, type GradInput } from './elementwise.js';
import { ELEMENT_BYTES, GEMM_SHAPES, SCRATCH_BYTES, type WasmDType } from './gemm.js';
import { buildKernelModule, type WasmFeatures } from './module.js';

type Fn = (...args: number[]) => void;

const PAGE = 65536;
const DTYPES: readonly WasmDType[] = ['f32', 'f64'];

/** Round up to a multiple of 64 bytes: operands start on a cache line. */
function align(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Bytes for an n-element operand of an elementwise op: its loops may run up to 3 elements past the end. */
function region(n: number, size: number): number {
  return align((n + 4) * size);
}

/** Memory layout: the scratch tile, the two packing buffers, then the operands of the current call. */
const PACK_A = SCRATCH_BYTES;
const PACK_B = align(
  PACK_A + Math.max(...DTYPES.map((d) => GEMM_SHAPES[d].mc * GEMM_SHAPES[d].kc * ELEMENT_BYTES[d])),
);
const OPERANDS = align(
  PACK_B + Math.max(...DTYPES.map((d) => GEMM_SHAPES[d].kc * GEMM_SHAPES[d].nc * ELEMENT_BYTES[d])),
);

/** wasm32 addresses stop at 4 GiB; a call needing more is left to the reference. */
const MAX_BYTES = 2 ** 32 - PAGE;

/** The exported functions of one element type, looked up once so calls build no strings. */
interface DTypeFns {
  packA: Fn;
  packB: Fn;
  macro: Fn;
  unary: Partial<Record<UnaryOp, Fn>>;
  grad: Partial<Record<UnaryOp, Fn>>;
  binary: Record<BinaryLayout, Partial<Record<BinaryOp, Fn>>>;
}

export class WasmRuntime {
  private f32 = new Float32Array(0);
  private f64 = new Float64Array(0);
  private readonly fns: Record<WasmDType, DTypeFns>;

  private constructor(
    private readonly memory: WebAssembly.Memory,
    exports: WebAssembly.Exports,
  ) {
    const fn = (name: string) => exports[name] as Fn;
    const table = (dt: WasmDType): DTypeFns => {
      const t: DTypeFns = {
        packA: fn(`${dt}_packA`),
        packB: fn(`${dt}_packB`),
        macro: fn(`${dt}_macro`),
        unary: {},
        grad: {},
        binary: { same: {}, scalarA: {}, scalarB: {}, rowB: {} },
      };
      for (const op of Object.keys(UNARY) as UnaryOp[]) if (UNARY[op]) t.unary[op] = fn(names.unary(dt, op));
      for (const op of Object.keys(UNARY_GRAD) as UnaryOp[])
        if (UNARY_GRAD[op]) t.grad[op] = fn(names.grad(dt, op));
      for (const op of Object.keys(BINARY) as BinaryOp[])
        for (const layout of Object.keys(t.binary) as BinaryLayout[])
          t.binary[layout][op] = fn(names.binary(dt, op, layout));
      return t;
    };
    this.fns = { f32: table('f32'), f64: table('f64') };
    this.refreshViews();
  }

  /** Compile and instantiate (asynchronously: browsers refuse large synchronous compiles). */
  static async create(features: WasmFeatures): Promise<WasmRuntime> {
    const memory = new WebAssembly.Memory({ initial: Math.ceil(OPERANDS / PAGE) + 1 });
    const { instance } = await WebAssembly.instantiate(buildKernelModule(features), { env: { memory } });
    return new WasmRuntime(memory, instance.exports);
  }

  /**
   * Make the memory at least `bytes` long; false where it cannot grow that far (the caller falls back).
   * The memory never shrinks: it stays as large as the largest call so far, so later calls reuse it.
   */
  private reserve(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    if (bytes > MAX_BYTES) return false;
    try {
      this.memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch {
      return false;
    }
    this.refreshViews();
    return true;
  }

  /** Views over the memory; growing it detaches the old buffer, so they are remade then. */
  private refreshViews(): void {
    this.f32 = new Float32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
  }

  /** Copy `len` elements of `src` from `offset` to byte address `ptr`. */
  private put(dt: WasmDType, src: Storage, offset: number, len: number, ptr: number): void {
    const view = dt === 'f32' ? this.f32 : this.f64;
    const at = ptr / ELEMENT_BYTES[dt];
    if (offset === 0 && src.length === len) view.set(src, at);
    else view.set(src.subarray(offset, offset + len), at);
  }

  /** Copy `len` elements from byte address `ptr` into `dst` at `offset`. */
  private take(dt: WasmDType, ptr: number, len: number, dst: Storage, offset: number): void {
    const view = dt === 'f32' ? this.f32 : this.f64;
    const at = ptr / ELEMENT_BYTES[dt];
    dst.set(view.subarray(at, at + len), offset);
  }

  /** C = op(A)·op(B) as the `Kernels.matmul` contract says; false if it did not fit in memory. */
  matmul(
    dt: WasmDType,
    a: Storage,
    ao: number,
    b: Storage,
    bo: number,
    c: Storage,
    co: number,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const s = GEMM_SHAPES[dt];
    const { packA, packB, macro } = this.fns[dt];
    const aPtr = OPERANDS;
    const bPtr = align(aPtr + m * k * size);
    const cPtr = align(bPtr + k * n * size);
    if (!this.reserve(cPtr + m * n * size)) return false;
    this.put(dt, a, ao, m * k, aPtr);
    this.put(dt, b, bo, k * n, bPtr);
    // Element strides of op(A)(i, p) along i and p, and of op(B)(p, j) along j and p: a transposed
    // operand is only packed differently.
    const aI = transA ? 1 : k;
    const aP = transA ? m : 1;
    const bJ = transB ? k : 1;
    const bP = transB ? 1 : n;
    // BLIS's loop order: a kc×nc block of B is packed once per depth block and reused by every mc-row
    // block of A; the first depth block writes C, later ones add to it.
    for (let jc = 0; jc < n; jc += s.nc) {
      const nc = Math.min(s.nc, n - jc);
      for (let pc = 0; pc < k; pc += s.kc) {
        const kc = Math.min(s.kc, k - pc);
        packB(bPtr + (jc * bJ + pc * bP) * size, bJ, bP, nc, kc, PACK_B);
        for (let ic = 0; ic < m; ic += s.mc) {
          const mc = Math.min(s.mc, m - ic);
          packA(aPtr + (ic * aI + pc * aP) * size, aI, aP, mc, kc, PACK_A);
          macro(PACK_A, PACK_B, cPtr + (ic * n + jc) * size, n, mc, nc, kc, pc > 0 ? 1 : 0);
        }
      }
    }
    this.take(dt, cPtr, m * n, c, co);
    return true;
  }

  /** out = op(x) where UNARY has the op; false if it did not fit. */
  unary(dt: WasmDType, op: UnaryOp, x: Storage, out: Storage, p0: number, p1: number): boolean {
    const n = x.length;
    const size = ELEMENT_BYTES[dt];
    const xPtr = OPERANDS;
    const oPtr = xPtr + region(n, size);
    if (!this.reserve(oPtr + region(n, size))) return false;
    this.put(dt, x, 0, n, xPtr);
    (this.fns[dt].unary[op] as Fn)(xPtr, oPtr, n, p0, p1);
    this.take(dt, oPtr, n, out, 0);
    return true;
  }

  /** out = g · op'(x) where UNARY_GRAD has the op; `inputs` are its rule's arrays, in order. */
  unaryGrad(
    dt: WasmDType,
    op: UnaryOp,
    inputs: readonly GradInput[],
    x: Storage,
    y: Storage,
    g: Storage,
    out: Storage,
    p0: number,
    p1: number,
  ): boolean {
    const n = g.length;
    const size = ELEMENT_BYTES[dt];
    const r = region(n, size);
    if (!this.reserve(OPERANDS + (inputs.length + 1) * r)) return false;
    for (let i = 0; i < inputs.length; i++) {
      const name = inputs[i];
      this.put(dt, name === 'x' ? x : name === 'y' ? y : g, 0, n, OPERANDS + i * r);
    }
    const fn = this.fns[dt].grad[op] as Fn;
    const o = OPERANDS + inputs.length * r;
    if (inputs.length === 1) fn(OPERANDS, o, n, p0, p1);
    else if (inputs.length === 2) fn(OPERANDS, OPERANDS + r, o, n, p0, p1);
    else fn(OPERANDS, OPERANDS + r, OPERANDS + 2 * r, o, n, p0, p1);
    this.take(dt, o, n, out, 0);
    return true;
  }

  /** out = op(a, b) for the four layouts elementwise.ts generates. */
  binary(
    dt: WasmDType,
    op: BinaryOp,
    layout: BinaryLayout,
    a: Storage,
    b: Storage,
    out: Storage,
    n: number,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const fn = this.fns[dt].binary[layout][op] as Fn;
    const p1 = OPERANDS;
    if (layout === 'scalarA' || layout === 'scalarB') {
      const arr = layout === 'scalarA' ? b : a;
      const s = layout === 'scalarA' ? a[0] : b[0];
      const o = p1 + region(n, size);
      if (!this.reserve(o + region(n, size))) return false;
      this.put(dt, arr, 0, n, p1);
      fn(p1, o, n, s);
      this.take(dt, o, n, out, 0);
      return true;
    }
    const p2 = p1 + region(n, size);
    const o = p2 + region(n, size);
    if (!this.reserve(o + region(n, size))) return false;
    this.put(dt, a, 0, n, p1);
    this.put(dt, b, 0, b.length, p2);
    if (layout === 'same') fn(p1, p2, o, n);
    else fn(p1, p2, o, n / b.length, b.length);
    this.take(dt, o, n, out, 0);
    return true;
  }
}
