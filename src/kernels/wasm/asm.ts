/**
 * A small WebAssembly assembler: the kernels are written in TypeScript against this and turned into a
 * binary module when the library loads, so the wasm comes from source in the repository with no compiler
 * to install, no build step and nothing to download, and the same code runs in Node and in browsers.
 *
 * It covers what the kernels need and no more: one imported memory, functions with typed locals,
 * structured control flow with named labels, and the scalar, SIMD and relaxed-SIMD instructions in
 * {@link OPS}. The encoding follows the WebAssembly core specification (binary format, chapter 5).
 */

/** The value types the kernels use. */
export type ValType = 'i32' | 'f32' | 'f64' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128, the encoding of every count, index and offset. */
function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

/** Signed LEB128, the encoding of integer constants. */
function sleb(out: number[], v: number): void {
  // Values are i32 constants, so 32-bit arithmetic shifts are exact.
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** A SIMD instruction: the 0xfd prefix, then the opcode as LEB128. */
function simd(code: number): number[] {
  const out = [0xfd];
  uleb(out, code);
  return out;
}

/** Plain instructions (no immediates), by their text-format names. SIMD ones carry the 0xfd prefix. */
const OPS = {
  drop: [0x1a],
  select: [0x1b],
  'i32.eqz': [0x45],
  'i32.eq': [0x46],
  'i32.ne': [0x47],
  'i32.lt_s': [0x48],
  'i32.lt_u': [0x49],
  'i32.gt_s': [0x4a],
  'i32.le_s': [0x4c],
  'i32.ge_s': [0x4e],
  'i32.ge_u': [0x4f],
  'i32.add': [0x6a],
  'i32.sub': [0x6b],
  'i32.mul': [0x6c],
  'i32.div_u': [0x6e],
  'i32.rem_u': [0x70],
  'i32.and': [0x71],
  'i32.or': [0x72],
  'i32.shl': [0x74],
  'i32.shr_u': [0x76],
  'f32.ne': [0x5c],
  'f32.gt': [0x5e],
  'f32.add': [0x92],
  'f32.mul': [0x94],
  'f64.ne': [0x62],
  'f64.gt': [0x64],
  'f64.add': [0xa0],
  'f64.sub': [0xa1],
  'f64.mul': [0xa2],
  'f64.div': [0xa3],
  'i32.trunc_f64_s': [0xaa],
  'f64.convert_i32_s': [0xb7],
  'f32.demote_f64': [0xb6],
  'f64.promote_f32': [0xbb],
  'f32x4.splat': simd(0x13),
  'f64x2.splat': simd(0x14),
  'i32x4.splat': simd(0x11),
  'i32x4.eq': simd(0x37),
  'f32x4.ne': simd(0x42),
  'f32x4.gt': simd(0x44),
  'i32x4.add': simd(0xae),
  'v128.not': simd(0x4d),
  'i32x4.all_true': simd(0xa3),
  'v128.and': simd(0x4e),
  'v128.andnot': simd(0x4f),
  'v128.or': simd(0x50),
  'v128.bitselect': simd(0x52),
  'f64x2.eq': simd(0x47),
  'f64x2.ne': simd(0x48),
  'f64x2.lt': simd(0x49),
  'f64x2.gt': simd(0x4a),
  'f64x2.le': simd(0x4b),
  'f64x2.ge': simd(0x4c),
  'f32x4.demote_f64x2_zero': simd(0x5e),
  'f64x2.promote_low_f32x4': simd(0x5f),
  'f32x4.add': simd(0xe4),
  'f32x4.sub': simd(0xe5),
  'f32x4.mul': simd(0xe6),
  'f32x4.div': simd(0xe7),
  'f64x2.abs': simd(0xec),
  'f64x2.neg': simd(0xed),
  'f64x2.sqrt': simd(0xef),
  'f64x2.add': simd(0xf0),
  'f64x2.sub': simd(0xf1),
  'f64x2.mul': simd(0xf2),
  'f64x2.div': simd(0xf3),
  'v128.xor': simd(0x51),
  'v128.any_true': simd(0x53),
  'f64x2.ceil': simd(0x74),
  'f64x2.floor': simd(0x75),
  'f64x2.trunc': simd(0x7a),
  'f64x2.nearest': simd(0x94),
  'f64x2.pmin': simd(0xf6),
  'f64x2.pmax': simd(0xf7),
  // f32x4 arithmetic of the fused recurrent cells' float32 σ and tanh (recurrent.ts).
  'f32x4.abs': simd(0xe0),
  'f32x4.neg': simd(0xe1),
  'f32x4.min': simd(0xe8),
  'f32x4.max': simd(0xe9),
  'f32x4.lt': simd(0x43),
  'f32x4.nearest': simd(0x6a),
  'i32x4.trunc_sat_f32x4_s': simd(0xf8),
  'i32x4.shl': simd(0xab),
  // float32 libm (libm32.ts): 2^k from k's bits, log's exponent and mantissa
  'i32x4.shr_s': simd(0xac),
  'i32x4.sub': simd(0xb1),
  'f32x4.eq': simd(0x41),
  'f32x4.ge': simd(0x46),
  'f32x4.convert_i32x4_s': simd(0xfa),
  'i64x2.shl': simd(0xcb),
  'i64x2.shr_s': simd(0xcc),
  'i64x2.shr_u': simd(0xcd),
  'i64x2.add': simd(0xce),
  'i64x2.sub': simd(0xd1),
  'i64x2.eq': simd(0xd6),
  'i64x2.ne': simd(0xd7),
  'i64x2.lt_s': simd(0xd8),
  'i64x2.gt_s': simd(0xd9),
  'i64x2.le_s': simd(0xda),
  'i64x2.ge_s': simd(0xdb),
  // Relaxed SIMD: a·b + c, fused or not as the hardware prefers.
  'f32x4.relaxed_madd': simd(0x105),
  'f64x2.relaxed_madd': simd(0x107),
} satisfies Record<string, readonly number[]>;

/** An instruction without immediates. */
export type Op = keyof typeof OPS;

/** Instructions with a lane index immediate. */
const LANE_OPS = {
  'i32x4.extract_lane': simd(0x1b),
  'i32x4.replace_lane': simd(0x1c),
  'f32x4.extract_lane': simd(0x1f),
  'f32x4.replace_lane': simd(0x20),
  'f64x2.extract_lane': simd(0x21),
  'f64x2.replace_lane': simd(0x22),
} satisfies Record<string, readonly number[]>;

/** An instruction with a lane index. */
export type LaneOp = keyof typeof LANE_OPS;

/** Loads and stores: opcode bytes and the natural alignment (log2 bytes) the memarg states. */
const MEMOPS = {
  'i32.load': [[0x28], 2],
  'f32.load': [[0x2a], 2],
  'f64.load': [[0x2b], 3],
  'i32.store': [[0x36], 2],
  'f32.store': [[0x38], 2],
  'f64.store': [[0x39], 3],
  'v128.load': [simd(0x00), 4],
  'v128.load32_splat': [simd(0x09), 2],
  'v128.load64_splat': [simd(0x0a), 3],
  'v128.store': [simd(0x0b), 4],
  'v128.load64_zero': [simd(0x5d), 3],
} satisfies Record<string, readonly [readonly number[], number]>;

/** A load or store instruction. */
export type MemOp = keyof typeof MEMOPS;

/** A local variable or parameter of the function being built. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/** A branch target: the block or loop it was made by, known by its nesting depth. */
export interface Label {
  readonly depth: number;
}

/** Append `bytes` to `out` (a loop: spreading a large array into push would overflow the stack). */
function append(out: number[], bytes: ArrayLike<number>): void {
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]);
}

/** A name: its UTF-8 length, then the bytes. */
function name(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  out.push(...bytes);
}

/** The body of one function: locals and a stream of instructions. */
export class Func {
  readonly params: Local[];
  private readonly locals: ValType[] = [];
  readonly code: number[] = [];
  private depth = 0;

  constructor(
    readonly name: string,
    readonly paramTypes: readonly ValType[],
    readonly results: readonly ValType[],
  ) {
    this.params = paramTypes.map((type, index) => ({ index, type }));
  }

  /** A new local of the given type. */
  local(type: ValType): Local {
    this.locals.push(type);
    return { index: this.paramTypes.length + this.locals.length - 1, type };
  }

  /** Emit instructions without immediates, in order. */
  op(...ops: Op[]): this {
    for (const o of ops) this.code.push(...OPS[o]);
    return this;
  }

  /** local.get */
  get(l: Local): this {
    this.code.push(0x20);
    uleb(this.code, l.index);
    return this;
  }

  /** local.set */
  set(l: Local): this {
    this.code.push(0x21);
    uleb(this.code, l.index);
    return this;
  }

  /** local.tee: set and keep the value on the stack. */
  tee(l: Local): this {
    this.code.push(0x22);
    uleb(this.code, l.index);
    return this;
  }

  /** i32.const */
  i32(v: number): this {
    this.code.push(0x41);
    sleb(this.code, v | 0);
    return this;
  }

  /** f32.const */
  f32(v: number): this {
    this.code.push(0x43, ...new Uint8Array(new Float32Array([v]).buffer));
    return this;
  }

  /** f64.const */
  f64(v: number): this {
    this.code.push(0x44, ...new Uint8Array(new Float64Array([v]).buffer));
    return this;
  }

  /** A v128 of zero bits. */
  zero128(): this {
    this.code.push(...simd(0x0c), ...new Array<number>(16).fill(0));
    return this;
  }

  /** A v128 constant of two f64 lanes. */
  f64x2(lo: number, hi: number): this {
    this.code.push(...simd(0x0c), ...new Uint8Array(new Float64Array([lo, hi]).buffer));
    return this;
  }

  /** v128.store64_lane: store lane `lane` (0 or 1) of the i64x2 on top of the stack at address + offset. */
  store64Lane(lane: number, offset = 0): this {
    this.code.push(...simd(0x5b));
    uleb(this.code, 3);
    uleb(this.code, offset);
    this.code.push(lane);
    return this;
  }

  /** A lane instruction (extract_lane, replace_lane) with its lane index. */
  lane(o: LaneOp, lane: number): this {
    this.code.push(...LANE_OPS[o], lane);
    return this;
  }

  /** i8x16.shuffle with its 16 lane indices (0–15 from the first operand, 16–31 from the second). */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error(`shuffle: 16 lane indices expected, got ${lanes.length}`);
    this.code.push(...simd(0x0d), ...lanes);
    return this;
  }

  /** A load or store at address (top of stack) + offset bytes. */
  mem(o: MemOp, offset = 0): this {
    const [bytes, align] = MEMOPS[o];
    this.code.push(...bytes);
    uleb(this.code, align);
    uleb(this.code, offset);
    return this;
  }

  /** `local += delta` for an i32 local. */
  inc(l: Local, delta: number | Local): this {
    this.get(l);
    if (typeof delta === 'number') this.i32(delta);
    else this.get(delta);
    return this.op('i32.add').set(l);
  }

  /** A block: a branch to its label jumps past its end. */
  block(body: (end: Label) => void): this {
    return this.structured(0x02, body);
  }

  /** A loop: a branch to its label jumps back to its start. */
  loop(body: (top: Label) => void): this {
    return this.structured(0x03, body);
  }

  /** if (pop ≠ 0) then … else …. */
  if(then: () => void, otherwise?: () => void): this {
    this.code.push(0x04, 0x40);
    this.depth++;
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /** Branch to a label (past a block's end, or back to a loop's start). */
  br(l: Label): this {
    this.code.push(0x0c);
    uleb(this.code, this.depth - l.depth);
    return this;
  }

  /** Branch to a label if the popped i32 is not zero. */
  brIf(l: Label): this {
    this.code.push(0x0d);
    uleb(this.code, this.depth - l.depth);
    return this;
  }

  /** Call the function with index `f` (as ModuleBuilder.func returned it). */
  call(f: number): this {
    this.code.push(0x10);
    uleb(this.code, f);
    return this;
  }

  /**
   * `for (i = from; i < to; i += step) body()`, with `to` read once; an empty range runs nothing. The
   * bounds are i32 constants or locals.
   */
  for(i: Local, from: number | Local, to: number | Local, step: number, body: () => void): this {
    const push = (v: number | Local) => (typeof v === 'number' ? this.i32(v) : this.get(v));
    push(from).set(i);
    return this.block((end) => {
      this.get(i);
      push(to);
      this.op('i32.ge_s').brIf(end);
      this.loop((top) => {
        body();
        this.inc(i, step).get(i);
        push(to);
        this.op('i32.lt_s').brIf(top);
      });
    });
  }

  private structured(opcode: number, body: (l: Label) => void): this {
    this.code.push(opcode, 0x40);
    this.depth++;
    body({ depth: this.depth });
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /** The function's entry in the code section. */
  encode(): number[] {
    const body: number[] = [];
    // Runs of equal types share one local declaration.
    const runs: [number, ValType][] = [];
    for (const t of this.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    uleb(body, runs.length);
    for (const [count, t] of runs) {
      uleb(body, count);
      body.push(VALTYPE[t]);
    }
    append(body, this.code);
    body.push(0x0b);
    const out: number[] = [];
    uleb(out, body.length);
    append(out, body);
    return out;
  }
}

/** A module: an imported memory `env.memory` and exported functions. */
export class ModuleBuilder {
  private readonly funcs: Func[] = [];

  /** Add a function (exported under its name) and return its index for `call`. */
  func(
    name: string,
    params: readonly ValType[],
    results: readonly ValType[],
    build: (f: Func) => void,
  ): number {
    const f = new Func(name, params, results);
    build(f);
    this.funcs.push(f);
    return this.funcs.length - 1;
  }

  /** The binary module. `shared` makes the imported memory shared (for threads: then `maxPages` is needed). */
  build(
    memory: { minPages: number; maxPages?: number; shared?: boolean } = { minPages: 1 },
  ): Uint8Array<ArrayBuffer> {
    const types: string[] = [];
    const typeOf = this.funcs.map((f) => {
      const key = `${f.paramTypes.join(',')}>${f.results.join(',')}`;
      let i = types.indexOf(key);
      if (i < 0) i = types.push(key) - 1;
      return i;
    });
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, content: number[]) => {
      out.push(id);
      uleb(out, content.length);
      append(out, content);
    };

    const typeSec: number[] = [];
    uleb(typeSec, types.length);
    for (const key of types) {
      const [ps, rs] = key.split('>').map((s) => (s ? (s.split(',') as ValType[]) : []));
      typeSec.push(0x60);
      uleb(typeSec, ps.length);
      for (const p of ps) typeSec.push(VALTYPE[p]);
      uleb(typeSec, rs.length);
      for (const r of rs) typeSec.push(VALTYPE[r]);
    }
    section(1, typeSec);

    const importSec: number[] = [1];
    name(importSec, 'env');
    name(importSec, 'memory');
    importSec.push(0x02); // memory
    const { minPages, maxPages, shared } = memory;
    importSec.push(shared ? 0x03 : maxPages === undefined ? 0x00 : 0x01);
    uleb(importSec, minPages);
    if (maxPages !== undefined) uleb(importSec, maxPages);
    section(2, importSec);

    const funcSec: number[] = [];
    uleb(funcSec, this.funcs.length);
    for (const t of typeOf) uleb(funcSec, t);
    section(3, funcSec);

    const exportSec: number[] = [];
    uleb(exportSec, this.funcs.length);
    this.funcs.forEach((f, i) => {
      name(exportSec, f.name);
      exportSec.push(0x00);
      uleb(exportSec, i);
    });
    section(7, exportSec);

    const codeSec: number[] = [];
    uleb(codeSec, this.funcs.length);
    for (const f of this.funcs) append(codeSec, f.encode());
    section(10, codeSec);

    // The custom "name" section: function names, so profilers show `gemm_f32` instead of `wasm-function[2]`.
    const names: number[] = [];
    uleb(names, this.funcs.length);
    this.funcs.forEach((f, i) => {
      uleb(names, i);
      name(names, f.name);
    });
    const nameSec: number[] = [];
    name(nameSec, 'name');
    nameSec.push(1);
    uleb(nameSec, names.length);
    append(nameSec, names);
    section(0, nameSec);
    return new Uint8Array(out);
  }
}
