/**
 * The tape walk: reverse-mode differentiation over the `GradNode`s that ops record, and the switch that
 * stops them recording (`noGrad`). `Tensor.backward()` delegates here. Everything runs inside functions,
 * so the import cycle with `tensor.ts` and `ops.ts` has no evaluation-order hazard.
 */
import type { Storage } from './kernels/types.js';
import { accumulateInto } from './ops.js';
import { fmt } from './shape.js';
import { allocStorage, isScratch, scratchStorage, storageCtor, Tensor } from './tensor.js';

let gradDisabled = 0;

/** Whether operations currently record the graph (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/**
 * Run `fn` without recording operations for autograd: for evaluation and for in-place parameter updates.
 * Nesting is fine; the previous mode is restored even when `fn` throws.
 */
export function noGrad<T>(fn: () => T): T {
  gradDisabled++;
  try {
    return fn();
  } finally {
    gradDisabled--;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The backward engine: a topological order, then one reversed loop.

/**
 * @internal `Tensor.backward()`: seed the root's gradient, walk the graph once in reverse topological order,
 * accumulate into every tensor that requires grad, then release the graph unless `retain`.
 */
export function backwardFrom(
  root: Tensor,
  gradient: Tensor | ArrayLike<number> | number | undefined,
  retain: boolean,
): void {
  if (!root.requiresGrad)
    throw new Error(
      'backward: this tensor does not require grad (no input had requiresGrad, or it was made in noGrad)',
    );
  if (root._node && root._node.backward === null)
    throw new Error(
      'backward: the graph was already released by an earlier backward(); pass { retainGraph: true } to it',
    );
  let seed: Storage;
  if (gradient === undefined) {
    if (root.size !== 1)
      throw new Error(
        `backward: called on a tensor of shape ${fmt(root.shape)}; reduce it to a scalar (e.g. .sum()) or pass the upstream gradient`,
      );
    seed = allocStorage(root.dtype, 1);
    seed[0] = 1;
  } else {
    const g =
      gradient instanceof Tensor ? gradient.data : typeof gradient === 'number' ? [gradient] : gradient;
    if (g.length !== root.size)
      throw new Error(
        `backward: gradient has ${g.length} elements, the tensor ${fmt(root.shape)} has ${root.size}`,
      );
    seed = allocStorage(root.dtype, root.size);
    for (let i = 0; i < g.length; i++) seed[i] = g[i];
  }

  const order = topoOrder(root);
  // Check the whole graph before running any of it: failing halfway would leave some .grad updated.
  for (const t of order)
    if (t._node !== null && t._node.backward === null)
      throw new Error(
        `backward: the graph through '${t._node.op}' was already released; use { retainGraph: true }`,
      );
  root._g = seed;
  root._gShared = false;
  try {
    walk(order);
  } catch (e) {
    // A backward that threw leaves pending gradients behind: drop them (inside tidy they are scratch
    // memory given back at its end, which a later pass must not add into).
    for (const t of order) t._g = null;
    throw e;
  }
  if (!retain)
    for (const t of order)
      if (t._node) {
        t._node.backward = null;
        t._node.inputs = [];
      }
}

/** The reversed loop over the tape: each tensor's gradient through its node into its inputs. */
function walk(order: Tensor[]): void {
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const g = t._g;
    if (g === null) continue;
    const node = t._node;
    if (node === null || t._retain) storeGrad(t, g, t._gShared);
    if (node !== null && node.backward !== null) {
      const grads = node.backward(g);
      const inputs = node.inputs;
      for (let j = 0; j < inputs.length; j++) {
        const x = inputs[j];
        const gx = grads[j];
        if (gx === null || !x.requiresGrad) continue;
        addInto(x, gx, gx === g);
      }
    }
    t._g = null;
  }
}

/** Add a gradient contribution to a tensor's pending gradient, copying only when buffers are shared. */
function addInto(x: Tensor, gx: Storage, shared: boolean): void {
  if (x.dtype !== (gx instanceof Float64Array ? 'float64' : 'float32')) {
    gx = storageCtor(x.dtype).from(gx);
    shared = false;
  }
  if (x._g === null) {
    x._g = gx;
    x._gShared = shared;
    return;
  }
  if (x._gShared) {
    const own = scratchStorage(x.dtype, x._g.length, true);
    own.set(x._g);
    x._g = own;
    x._gShared = false;
  }
  accumulateInto(x._g, gx);
}

function storeGrad(t: Tensor, g: Storage, shared: boolean): void {
  if (t.grad !== null) accumulateInto(t.grad.data, g);
  else if (shared || isScratch(g)) {
    // A .grad outlives the pass (and tidy's scratch memory): it gets storage of its own.
    const own = allocStorage(t.dtype, g.length);
    own.set(g);
    t.grad = new Tensor(own, t.shape);
  } else t.grad = new Tensor(g, t.shape);
}

let visitCounter = 0;

function topoOrder(root: Tensor): Tensor[] {
  // Iterative depth-first search (deep graphs must not overflow the call stack) with parallel stacks and
  // a per-pass visit number on each tensor: no Set and no tuple per node on this hot path.
  const visit = ++visitCounter;
  const order: Tensor[] = [];
  const nodes: Tensor[] = [root];
  const next: number[] = [0];
  root._visit = visit;
  while (nodes.length > 0) {
    const top = nodes.length - 1;
    const t = nodes[top];
    const k = next[top];
    const inputs = t._node ? t._node.inputs : EMPTY;
    if (k < inputs.length) {
      next[top] = k + 1;
      const x = inputs[k];
      if (x.requiresGrad && x._visit !== visit) {
        x._visit = visit;
        nodes.push(x);
        next.push(0);
      }
    } else {
      nodes.pop();
      next.pop();
      order.push(t);
    }
  }
  return order;
}

const EMPTY: readonly Tensor[] = [];
