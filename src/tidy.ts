/**
 * `tidy`: one training step's temporary arrays in the kernel set's own memory, given back when the step
 * returns. JavaScript frees a typed array only when the garbage collector finds it unreachable, so a step
 * that makes fresh arrays for every op result and gradient pays for allocating, zeroing and collecting
 * them, and the WebAssembly set copies each one into its memory and back. Inside `tidy` the op results
 * and gradients are blocks of that memory instead: kernels use them where they lie, and the next step
 * reuses the same blocks (tfjs's `tidy` is the same idea: JavaScript has no destructors).
 */
import { kernels } from './kernels/index.js';
import type { Kernels, Storage } from './kernels/types.js';
import * as losses from './losses.js';
import * as nn from './nn/index.js';
import type { Module } from './nn/module.js';
import * as optim from './optim/index.js';
import { beginScratch, endScratch, Tensor, type DType } from './tensor.js';

/** Arrays shorter than this stay ordinary typed arrays (copying them costs less than the bookkeeping). */
const SCRATCH_MIN_ELEMENTS = 1024;

/**
 * Run `fn` (typically one training step: zeroGrad, forward, loss, backward, optimizer step) with the
 * results and gradients of its ops in the kernel set's memory, and give that memory back when it returns.
 * `fn` must be synchronous: one that returns a promise is refused (its memory would go back at the first
 * `await`).
 *
 * The contract: a tensor made by an op inside `fn` must not be used after `fn` returns; read what you
 * need inside (`loss.item()`) and return plain values. A returned tensor is copied out (detached), and
 * gradients stored in `.grad`, parameters, buffers and tensors made by `tensor`/`zeros` are ordinary
 * arrays that stay valid. Nested calls run as part of the outermost one. Where the kernel set has no
 * memory of its own (the reference set; WebAssembly without shared memory) it simply runs `fn`.
 *
 * @example
 * ```ts
 * const loss = tidy(() => {
 *   opt.zeroGrad();
 *   const l = losses.crossEntropy(model.forward(x), y);
 *   l.backward();
 *   opt.step();
 *   return l.item();
 * });
 * ```
 */
export function tidy<T>(fn: () => T): T {
  if (active) return fn();
  const scratch = scratchOf(kernels());
  if (scratch === null) return fn();
  active = true;
  beginScratch(scratch.source);
  try {
    const out = fn();
    if (typeof (out as { then?: unknown } | null)?.then === 'function')
      throw new TypeError(
        'tidy: the function returned a promise; tidy gives its memory back when the function returns, so it must be synchronous (await outside it)',
      );
    return (out instanceof Tensor ? out.clone() : out) as T;
  } finally {
    endScratch(scratch.give);
    active = false;
  }
}

/** Whether a `tidy` is running (nested calls join it). */
let active = false;

/** Where a kernel set's scratch blocks come from and go back to. */
interface Scratch {
  source: (dtype: DType, n: number) => Storage | null;
  give: (s: Storage) => void;
}

/** Each kernel set's `Scratch` (null: it has no memory of its own), made once, so a step allocates none. */
const scratches = new WeakMap<Kernels, Scratch | null>();

function scratchOf(set: Kernels): Scratch | null {
  let s = scratches.get(set);
  if (s === undefined) {
    const { alloc, free } = set;
    s =
      alloc && free
        ? {
            source: (dtype, n) => (n < SCRATCH_MIN_ELEMENTS ? null : alloc.call(set, dtype, n, true)),
            give: (b) => free.call(set, b),
          }
        : null;
    scratches.set(set, s);
  }
  return s;
}

/** The library's own module classes, loss functions and optimizer classes (what `tidySafe` trusts). */
let trusted: { modules: Set<unknown>; losses: Set<unknown>; optimizers: Set<unknown> } | null = null;

function trustedSets(): NonNullable<typeof trusted> {
  const isClass = (base: unknown) => (v: unknown) =>
    typeof v === 'function' && (v === base || v.prototype instanceof (base as new () => unknown));
  trusted ??= {
    modules: new Set(Object.values(nn).filter(isClass(nn.Module))),
    losses: new Set(Object.values(losses).filter((v) => typeof v === 'function')),
    optimizers: new Set(Object.values(optim).filter(isClass(optim.Optimizer))),
  };
  return trusted;
}

/**
 * Whether a training step of `model` with `loss` and `optimizer` may run inside `tidy` without knowing
 * more: every module is one of the library's own classes (not a subclass, and with no method of its class
 * replaced on the instance, e.g. a hook on `forward`: either might keep an op's result between steps), the
 * loss is a name or one of the library's loss functions, and the optimizer is one of the library's (when
 * given). `fit` asks this unless told (`FitOptions.tidy`).
 */
export function tidySafe(model: Module, loss: unknown, optimizer?: unknown): boolean {
  const t = trustedSets();
  if (typeof loss === 'function' && !t.losses.has(loss)) return false;
  if (optimizer !== undefined && !t.optimizers.has((optimizer as { constructor?: unknown })?.constructor))
    return false;
  return model.modules().every((m) => t.modules.has(m.constructor) && !overridesMethod(m));
}

/** Whether an instance has an own function property in place of one of its class's methods. */
function overridesMethod(m: object): boolean {
  const proto = Object.getPrototypeOf(m) as Record<string, unknown>;
  for (const [key, value] of Object.entries(m))
    if (typeof value === 'function' && typeof proto[key] === 'function') return true;
  return false;
}
