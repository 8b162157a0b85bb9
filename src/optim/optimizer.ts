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
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i];
      if (p.grad) {
        this.paramSteps[i]++;
        // A parameter too short for the set to take anywhere but the reference goes there directly.
        this.update(i, p.data, p.grad.data, p.size < short ? referenceKernels : active);
      }
    }
  }

  /** Update parameter `i` in place from its gradient, on kernel set `K`. */
  protected abstract update(i: number, p: Storage, g: Storage, K: Kernels): void;

  /** The buffer `name` of parameter `i`, created (zero or a copy of `init`) on first use. */
  protected buffer(name: string, i: number, init?: Storage): Storage {
    const list = (this.buffers[name] ??= new Array<Storage | null>(this.params.length).fill(null));
    let b = list[i];
    if (b === null) {
      b = kernelStorage(this.params[i].dtype, this.params[i].size);
      if (init) b.set(init);
      list[i] = b;
    }
    return b;
  }

  /** Whether buffer `name` of parameter `i` exists yet. */
  protected hasBuffer(name: string, i: number): boolean {
    return (this.buffers[name]?.[i] ?? null) !== null;
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

/** Throw a RangeError naming the option unless `v` is a finite number ≥ 0. */
export function checkNonNegative(owner: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new RangeError(`${owner}: ${name} must be a finite number ≥ 0, got ${String(v)}`);
}
