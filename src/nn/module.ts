/**
 * `Module`: the base of layers and models. Parameters are the tensors held in a module's fields, found by
 * walking them (PyTorch's naming: `'0.weight'` for field `weight` of child `0`), so a layer only declares
 * its fields and its `forward`. Buffers are tensor fields a layer registers as such: saved, not trained.
 */
import { fmt, sameShape } from '../shape.js';
import { noGrad, tensor, Tensor, type NestedArray } from '../tensor.js';

/** A state dict entry: a tensor or the same values as nested arrays. */
export type StateValue = Tensor | NestedArray;

/** A layer or a model. Subclasses hold their parameters and sub-modules in fields and define `forward`. */
export abstract class Module {
  /**
   * Training mode (dropout active, batch norm by the batch's statistics) or evaluation mode; `train()` and
   * `eval()` set it on every module of a model.
   */
  training = true;

  /** @internal The names of this module's own fields that hold buffers (see `registerBuffer`). */
  private readonly _bufferNames = new Set<string>();

  /** Compute the output for a batch. */
  abstract forward(x: Tensor): Tensor;

  /** Direct sub-modules with their names: module-valued fields, and arrays of modules as `name.i`. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (key.startsWith('_')) continue;
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value))
        value.forEach((v, i) => {
          if (v instanceof Module) out.push([`${key}.${i}`, v]);
        });
    }
    return out;
  }

  /** This module and every module below it, depth first (PyTorch's `modules()`). */
  modules(): Module[] {
    const out: Module[] = [this];
    for (const [, child] of this.namedChildren()) out.push(...child.modules());
    return out;
  }

  /**
   * Every tensor of this module and its children (parameters and buffers), with dotted PyTorch-style names:
   * what `stateDict`, model files and checkpoints hold.
   */
  namedTensors(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this))
      if (!key.startsWith('_') && value instanceof Tensor) out.push([prefix + key, value]);
    for (const [name, child] of this.namedChildren()) out.push(...child.namedTensors(`${prefix}${name}.`));
    return out;
  }

  /**
   * Mark field `name` as a buffer: state that is saved with the model (`stateDict`, model files,
   * checkpoints) but not trained, such as BatchNorm's running statistics (PyTorch's `register_buffer`).
   * Returns the value, so a constructor writes `this.running_mean = this.registerBuffer('running_mean', t)`.
   */
  protected registerBuffer<T extends Tensor | null>(name: string, value: T): T {
    if (value !== null && value.requiresGrad)
      throw new Error(`${this.constructor.name}: buffer '${name}' must not require grad (it is not trained)`);
    this._bufferNames.add(name);
    return value;
  }

  /** The buffers of this module and its children, with dotted names (own ones first, as PyTorch). */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const own = this as unknown as Record<string, unknown>;
    for (const name of this._bufferNames) {
      const value = own[name];
      if (value instanceof Tensor) out.push([prefix + name, value]);
    }
    for (const [name, child] of this.namedChildren()) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /** The buffers (non-trained state, e.g. running statistics) of this module and its children. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** The trainable tensors (those with `requiresGrad`) with their names. */
  namedParameters(): [string, Tensor][] {
    return this.namedTensors().filter(([, t]) => t.requiresGrad);
  }

  /** The trainable tensors, in a stable order (fields in declaration order, children in order). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Set training (`true`) or evaluation mode on this module and every child. */
  train(mode = true): this {
    this.training = mode;
    for (const [, child] of this.namedChildren()) child.train(mode);
    return this;
  }

  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Reset the gradient of every parameter to zero (keeping its buffer). */
  zeroGrad(): void {
    for (const p of this.parameters()) if (p.grad) p.grad.data.fill(0);
  }

  /** A copy of every tensor, keyed by name. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, t] of this.namedTensors()) out[name] = t.clone();
    return out;
  }

  /**
   * Copy values into this module's tensors in place (optimizers keep working). Accepts tensors or nested
   * arrays; rejects a wrong shape, and — unless `strict` is false — missing or unexpected keys.
   */
  loadStateDict(state: Record<string, StateValue>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const own = new Map(this.namedTensors());
    const problems: string[] = [];
    if (strict) {
      for (const name of own.keys()) if (!(name in state)) problems.push(`missing key '${name}'`);
      for (const name of Object.keys(state)) if (!own.has(name)) problems.push(`unexpected key '${name}'`);
    }
    const updates: [Tensor, Tensor][] = [];
    for (const [name, value] of Object.entries(state)) {
      const target = own.get(name);
      if (!target) continue;
      let src: Tensor;
      try {
        src = value instanceof Tensor ? value : tensor(value as NestedArray[], { dtype: target.dtype });
      } catch (e) {
        problems.push(`'${name}': ${(e as Error).message}`);
        continue;
      }
      if (!sameShape(src.shape, target.shape))
        problems.push(`'${name}': shape ${fmt(src.shape)} does not match the module's ${fmt(target.shape)}`);
      else updates.push([target, src]);
    }
    // Check everything before changing anything: a failed load leaves the module as it was.
    if (problems.length > 0) throw new Error(`loadStateDict: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [target, src] of updates) target.data.set(src.data);
    });
  }

  /** One line per module: the architecture at a glance. */
  toString(): string {
    const children = this.namedChildren();
    const head = `${this.constructor.name}(${this.describe()})`;
    if (children.length === 0) return head;
    const lines = children.map(([n, c]) => `  (${n}): ${c.toString().replace(/\n/g, '\n  ')}`);
    return `${this.constructor.name}(\n${lines.join('\n')}\n)`;
  }

  /** The arguments shown by `toString()`; layers override it. */
  describe(): string {
    return '';
  }
}
