/**
 * Optimizers with PyTorch's exact update rules (torch.optim, single-tensor path), updating parameters in
 * place over their typed arrays: no tensors, no graph, no allocation after the first step.
 */
import { kernels, kernelStorage, referenceKernels } from '../kernels/index.js';
import type { Kernels, Storage } from '../kernels/types.js';
import type { Tensor } from '../tensor.js';

/** Serializable optimizer state: hyperparameters, step count and per-parameter buffers as plain arrays. */
export interface OptimizerState {
  type: string;
  lr: number;
  step: number;
  /** Updates of each parameter (PyTorch's per-parameter `step`). */
  paramSteps: number[];
  buffers: Record<string, (number[] | null)[]>;
}

/** Base of all optimizers: holds the parameters, the learning rate and named per-parameter buffers. */
export abstract class Optimizer {
  /** The parameters being optimized. */
  readonly params: Tensor[];
  /** Current learning rate; schedulers change it between steps. */
  lr: number;
  /** Initial learning rate, which schedulers start from. */
  readonly initialLr: number;
  /** Number of `step()` calls so far. */
  stepCount = 0;
  /**
   * Updates of each parameter so far, PyTorch's per-parameter `state['step']`: a parameter with no gradient
   * at a step is skipped, and its bias corrections (Adam) and decay (Adagrad) must not count that step.
   */
  protected readonly paramSteps: number[];
  /** Per-parameter state buffers by name (e.g. `exp_avg`), created on first use. */
  protected readonly buffers: Record<string, (Storage | null)[]> = {};
  /**
   * While a trainer holds the parameters and gradients back to back (see `flatten`): the two blocks, and
   * each state buffer's block of the same layout (the per-parameter buffers are then views of it).
   */
  private flat: {
    params: Storage;
    grads: Storage;
    /** Each parameter's gradient array when flattened (its view of `grads`). */
    views: Storage[];
    state: Record<string, Storage>;
  } | null = null;
  /**
   * Whether `update` is the same elementwise arithmetic for every parameter, its per-parameter state
   * reached only through `buffer`, `hasBuffer` and `paramStep` (so it can run on all of them at once).
   */
  protected readonly elementwise: boolean = false;

  constructor(params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    this.paramSteps = new Array<number>(this.params.length).fill(0);
    if (this.params.length === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    for (const [i, p] of this.params.entries())
      if (!p.isLeaf)
        throw new Error(
          `${this.constructor.name}: parameter ${i} is not a leaf tensor (was it made by an op?)`,
        );
    checkNonNegative(this.constructor.name, 'lr', lr);
    this.lr = lr;
    this.initialLr = lr;
  }

  /** Set every parameter's gradient to zero, keeping the buffers. */
  zeroGrad(): void {
    for (const p of this.params) if (p.grad) p.grad.data.fill(0);
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    this.stepCount++;
    const active = kernels();
    const short = active.referenceElementsBelow ?? 0;
    const flat = this.flat;
    if (flat) {
      if (this.gradsInBlock(flat.views)) {
        // Every parameter at once: the same elementwise arithmetic over the block, in one call.
        for (let i = 0; i < this.paramSteps.length; i++) this.paramSteps[i]++;
        this.update(FLAT, flat.params, flat.grads, flat.params.length < short ? referenceKernels : active);
        return;
      }
      // A gradient is missing or lies elsewhere: from here on, parameter by parameter (their step counts
      // may part, and the block would no longer hold every gradient).
      this.unflatten();
    }
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i];
      if (p.grad) {
        this.paramSteps[i]++;
        // A parameter too short for the set to take anywhere but the reference goes there directly.
        this.update(i, p.data, p.grad.data, p.size < short ? referenceKernels : active);
      }
    }
  }

  /**
   * @internal Count `n` updates of every parameter that a trainer applied itself with this optimizer's own
   * arithmetic (the seed network's SGD lane in `Trainer`): afterwards the counts are those of `n` calls of
   * `step`.
   */
  countSteps(n: number): void {
    this.stepCount += n;
    for (let i = 0; i < this.paramSteps.length; i++) this.paramSteps[i] += n;
  }

  /**
   * Whether every parameter's gradient is still the array it was when flattened, its view of the block
   * (a loop of identity checks: this runs every step).
   */
  private gradsInBlock(views: Storage[]): boolean {
    for (let i = 0; i < this.params.length; i++) if (this.params[i].grad?.data !== views[i]) return false;
    return true;
  }

  /**
   * Update parameter `i` in place from its gradient, on kernel set `K`; `i` is `FLAT` (−1) for every
   * parameter at once (then `p` and `g` are the blocks, and the buffers the state's blocks).
   */
  protected abstract update(i: number, p: Storage, g: Storage, K: Kernels): void;

  /** Updates of parameter `i` so far (with `FLAT` (−1): of every parameter, which are then equal). */
  protected paramStep(i: number): number {
    return this.paramSteps[i === FLAT ? 0 : i];
  }

  /**
   * @internal While the parameters' data and gradients are views of `params` and `grads`, back to back
   * in the optimizer's order (a trainer arranges that for a run), update them all with one kernel call a
   * step instead of one per parameter: the updates are elementwise, so the bits are the same. The state
   * buffers move into blocks of the same layout. Refused (false) unless every parameter has taken the same
   * number of steps and every buffer exists for all parameters or none. `unflatten` ends it.
   */
  flatten(params: Storage, grads: Storage): boolean {
    // A subclass's update may index its own per-parameter state: only the built-in ones say they need not.
    if (!this.elementwise) return false;
    const steps = this.paramSteps[0];
    if (this.paramSteps.some((n) => n !== steps)) return false;
    for (const list of Object.values(this.buffers))
      if (list.some((b) => b === null) && list.some((b) => b !== null)) return false;
    // Every gradient must be its view of `grads`, in order (what `step` then checks by identity).
    const views: Storage[] = [];
    let at = grads.byteOffset;
    for (const p of this.params) {
      const g = p.grad?.data;
      if (!g || g.buffer !== grads.buffer || g.byteOffset !== at || g.length !== p.size) return false;
      views.push(g);
      at += g.byteLength;
    }
    this.flat = { params, grads, views, state: {} };
    for (const name of Object.keys(this.buffers)) if (this.buffers[name][0]) this.buffer(name, FLAT);
    return true;
  }

  /**
   * @internal End `flatten`: each parameter's state gets its own buffer again, holding its values (a view
   * must not outlive its block, which the kernel set may reclaim once the block is unreachable).
   */
  unflatten(): void {
    const flat = this.flat;
    if (!flat) return;
    this.flat = null;
    for (const name of Object.keys(flat.state)) {
      const list = this.buffers[name];
      list.forEach((view, j) => {
        const own = kernelStorage(this.params[j].dtype, this.params[j].size);
        own.set(view as Storage);
        list[j] = own;
      });
    }
  }

  /** The buffer `name` of parameter `i`, created (zero or a copy of `init`) on first use. */
  protected buffer(name: string, i: number, init?: Storage): Storage {
    if (i === FLAT) return this.flatBuffer(name, init);
    const list = (this.buffers[name] ??= new Array<Storage | null>(this.params.length).fill(null));
    let b = list[i];
    if (b === null) {
      b = kernelStorage(this.params[i].dtype, this.params[i].size);
      if (init) b.set(init);
      list[i] = b;
    }
    return b;
  }

  /** Whether buffer `name` of parameter `i` exists yet (with `FLAT` (−1): of the block). */
  protected hasBuffer(name: string, i: number): boolean {
    if (i === FLAT) return this.flat?.state[name] !== undefined;
    return (this.buffers[name]?.[i] ?? null) !== null;
  }

  /**
   * The block of buffer `name` in flat mode, made on first use from the parameters' buffers (or zero, or
   * a copy of `init`); each parameter's buffer becomes its view of the block.
   */
  private flatBuffer(name: string, init?: Storage): Storage {
    const flat = this.flat as NonNullable<typeof this.flat>;
    const have = flat.state[name];
    if (have) return have;
    const block = kernelStorage(this.params[0].dtype, flat.params.length);
    if (init) block.set(init);
    const list = (this.buffers[name] ??= new Array<Storage | null>(this.params.length).fill(null));
    let at = 0;
    this.params.forEach((p, j) => {
      const view = block.subarray(at, at + p.size);
      const own = list[j];
      if (own) view.set(own);
      list[j] = view;
      at += p.size;
    });
    flat.state[name] = block;
    return block;
  }

  /** The full state, as plain JSON, for checkpoints. */
  stateDict(): OptimizerState {
    const buffers: Record<string, (number[] | null)[]> = {};
    for (const [name, list] of Object.entries(this.buffers))
      buffers[name] = list.map((b) => (b ? Array.from(b) : null));
    return {
      type: this.constructor.name,
      lr: this.lr,
      step: this.stepCount,
      paramSteps: [...this.paramSteps],
      buffers,
    };
  }

  /** Restore `stateDict()` output: the next step continues exactly. */
  loadStateDict(state: OptimizerState): void {
    if (state.type !== this.constructor.name)
      throw new Error(
        `loadStateDict: state is for ${state.type}, this optimizer is ${this.constructor.name}`,
      );
    if (!Array.isArray(state.paramSteps) || state.paramSteps.length !== this.params.length)
      throw new Error(
        `loadStateDict: paramSteps should have ${this.params.length} entries, got ${JSON.stringify(state.paramSteps)?.slice(0, 40)}`,
      );
    for (const [name, list] of Object.entries(state.buffers)) {
      if (list.length !== this.params.length)
        throw new Error(
          `loadStateDict: buffer '${name}' has ${list.length} entries for ${this.params.length} parameters`,
        );
      list.forEach((b, i) => {
        if (b && b.length !== this.params[i].size)
          throw new Error(
            `loadStateDict: buffer '${name}' of parameter ${i} has ${b.length} values, expected ${this.params[i].size}`,
          );
      });
    }
    // Loaded state is per parameter (and its step counts may differ): no more one-call updates.
    this.unflatten();
    for (const k of Object.keys(this.buffers)) delete this.buffers[k];
    for (const [name, list] of Object.entries(state.buffers))
      this.buffers[name] = list.map((b, i) => {
        if (!b) return null;
        const s = kernelStorage(this.params[i].dtype, b.length);
        s.set(b);
        return s;
      });
    this.lr = state.lr;
    this.stepCount = state.step;
    state.paramSteps.forEach((n, i) => (this.paramSteps[i] = n));
  }
}

/** The parameter index that stands for every parameter at once (see `Optimizer.flatten`). */
export const FLAT = -1;

/** Throw a RangeError naming the option unless `v` is a finite number ≥ 0. */
export function checkNonNegative(owner: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new RangeError(`${owner}: ${name} must be a finite number ≥ 0, got ${String(v)}`);
}
