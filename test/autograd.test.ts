// The backward engine: accumulation, reuse, graph release, noGrad, detach, retainGrad, dtypes, depth.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor, ones, noGrad, isGradEnabled, matmul, type NestedArray } from '../src/index.js';

const f64 = (x: NestedArray, requiresGrad = false): Tensor => tensor(x, { dtype: 'float64', requiresGrad });

function grad(t: Tensor): NestedArray {
  assert.ok(t.grad, 'expected a gradient');
  return t.grad.toArray();
}

describe('accumulation', () => {
  test('gradients accumulate (+=) across two backward() calls', () => {
    const x = f64([1, 2, 3], true);
    x.mul(x).sum().backward();
    assert.deepEqual(grad(x), [2, 4, 6]);
    x.mul(3).sum().backward();
    assert.deepEqual(grad(x), [5, 7, 9]);
  });

  test('a value used twice gets both parts', () => {
    const a = f64([1, -2, 3], true);
    a.mul(a).sum().backward();
    assert.deepEqual(grad(a), [2, -4, 6]);
    const b = f64([1, 2], true);
    b.add(b).sum().backward();
    assert.deepEqual(grad(b), [2, 2]);
    const c = f64([1, 2], true);
    c.sub(c).sum().backward();
    assert.deepEqual(grad(c), [0, 0]);
    const d = f64([[1, 2]], true);
    d.matmul(d.T).backward();
    assert.deepEqual(grad(d), [[2, 4]]);
  });

  test('a broadcast operand used twice sums over rows and adds both uses', () => {
    const b = f64([1, 2, 3], true);
    const x = f64([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    x.add(b).mul(b).sum().backward();
    // d/db Σᵢ (xᵢ + b)·b = Σᵢ (xᵢ + 2b)
    assert.deepEqual(grad(b), [7, 11, 15]);
  });

  test('diamond graph: both paths reach the shared node and the leaf', () => {
    const x = f64([0.5, -1], true);
    const y = x.mul(2).retainGrad();
    const z = y.exp().add(y.tanh()).add(y.mul(y));
    z.sum().backward();
    const xs = [0.5, -1];
    const dy = xs.map((v) => Math.exp(2 * v) + (1 - Math.tanh(2 * v) ** 2) + 4 * v);
    (grad(y) as number[]).forEach((g, i) => assert.ok(Math.abs(g - dy[i]) < 1e-14));
    (grad(x) as number[]).forEach((g, i) => assert.ok(Math.abs(g - 2 * dy[i]) < 1e-14));
  });

  test('gradients of different tensors never share a buffer', () => {
    const a = f64([1, 2], true);
    const b = f64([3, 4], true);
    const s = a.add(b).retainGrad();
    const r = s.reshape(2, 1).retainGrad();
    r.backward([1, 1], { retainGraph: true });
    const bufs = [a, b, s, r].map((t) => t.grad!.data);
    assert.equal(new Set(bufs).size, 4);
    r.backward([10, 10]);
    assert.deepEqual(grad(a), [11, 11]);
    assert.deepEqual(grad(b), [11, 11]);
    assert.deepEqual(grad(s), [11, 11]);
    assert.deepEqual(grad(r), [[11], [11]]);
  });

  test('the upstream gradient is copied, not kept', () => {
    const x = f64([1, 2], true);
    const g = f64([5, 6]);
    x.mul(1).backward(g);
    g.data[0] = 100;
    assert.deepEqual(grad(x), [5, 6]);
    const leaf = f64([1, 2], true);
    leaf.backward(g);
    g.data[1] = 100;
    assert.deepEqual(grad(leaf), [100, 6]);
  });
});

describe('backward on non-scalars and released graphs', () => {
  test('a non-scalar needs the upstream gradient, and says so', () => {
    const x = f64([1, 2, 3], true);
    const y = x.mul(2);
    assert.throws(() => y.backward(), /shape \[3\].*scalar.*gradient/);
    y.backward([1, 10, 100]);
    assert.deepEqual(grad(x), [2, 20, 200]);
  });

  test('a gradient of the wrong size is refused', () => {
    const y = f64([1, 2, 3], true).mul(2);
    assert.throws(() => y.backward([1, 2]), /2 elements.*\[3\] has 3/);
  });

  test('a one-element tensor of any shape is a scalar for backward', () => {
    const x = f64([[2]], true);
    x.mul(x).backward();
    assert.deepEqual(grad(x), [[4]]);
  });

  test('backward on something that does not require grad throws', () => {
    assert.throws(() => f64([1]).mul(2).backward(), /does not require grad/);
  });

  test('the graph is released after backward; a second backward mentions retainGraph', () => {
    const x = f64([1, 2], true);
    const y = x.mul(x).sum();
    y.backward();
    assert.throws(() => y.backward(), /retainGraph/);
    // A new root over a released part of the graph fails the same way.
    const h = x.exp();
    h.sum().backward();
    assert.throws(() => h.mul(2).sum().backward(), /retainGraph/);
  });

  test('a backward that fails on a released graph changes no gradient', () => {
    const x = f64([1, 2], true);
    const w = f64([3, 4], true);
    const h = x.mul(2);
    h.sum().backward();
    assert.deepEqual(grad(x), [2, 2]);
    // w's path is intact, h's is released: nothing may be half-applied.
    const out = h.add(w.mul(w)).sum();
    assert.throws(() => out.backward(), /retainGraph/);
    assert.equal(w.grad, null);
    assert.deepEqual(grad(x), [2, 2]);
  });

  test('retainGraph keeps the graph for another pass', () => {
    const x = f64([1, 2], true);
    const y = x.mul(x).sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    assert.deepEqual(grad(x), [4, 8]);
    assert.throws(() => y.backward(), /retainGraph/);
  });
});

describe('noGrad', () => {
  test('results made inside do not require grad and have no graph', () => {
    const x = f64([1, 2], true);
    const y = noGrad(() => x.mul(2).exp());
    assert.equal(y.requiresGrad, false);
    assert.equal(y.isLeaf, true);
    assert.throws(() => y.sum().backward(), /does not require grad/);
  });

  test('nests, returns the value, and restores the mode', () => {
    assert.equal(isGradEnabled(), true);
    const v = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      const inner = noGrad(() => {
        assert.equal(isGradEnabled(), false);
        return 41;
      });
      assert.equal(isGradEnabled(), false);
      return inner + 1;
    });
    assert.equal(v, 42);
    assert.equal(isGradEnabled(), true);
    const x = f64([1], true);
    assert.equal(x.mul(2).requiresGrad, true);
  });

  test('restores the mode after a throw', () => {
    assert.throws(
      () =>
        noGrad(() => {
          noGrad(() => {
            throw new Error('boom');
          });
        }),
      /boom/,
    );
    assert.equal(isGradEnabled(), true);
    assert.equal(f64([1], true).mul(2).requiresGrad, true);
  });
});

describe('detach, retainGrad, isLeaf', () => {
  test('detach cuts the graph and shares the data', () => {
    const x = f64([1, 2], true);
    const d = x.mul(3).detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.isLeaf, true);
    const y = x.mul(d).sum(); // d acts as a constant
    y.backward();
    assert.deepEqual(grad(x), [3, 6]);
    const e = x.detach();
    assert.equal(e.data, x.data);
  });

  test('clone copies the data and cuts the graph', () => {
    const x = f64([1, 2], true);
    const c = x.clone();
    assert.notEqual(c.data, x.data);
    assert.deepEqual(c.toArray(), [1, 2]);
    assert.equal(c.requiresGrad, false);
  });

  test('retainGrad keeps the gradient of an intermediate; others get none', () => {
    const x = f64([1, 2], true);
    const h = x.mul(3).retainGrad();
    const k = h.add(1);
    k.mul(k).sum().backward();
    assert.deepEqual(grad(h), [8, 14]);
    assert.equal(k.grad, null);
    assert.deepEqual(grad(x), [24, 42]);
  });

  test('retainGrad on an intermediate used twice gets both parts', () => {
    const x = f64([2], true);
    const h = x.exp().retainGrad();
    h.mul(h).add(h).sum().backward();
    const e = Math.exp(2);
    assert.ok(Math.abs((grad(h) as number[])[0] - (2 * e + 1)) < 1e-12);
  });

  test('isLeaf', () => {
    const x = f64([1], true);
    assert.equal(x.isLeaf, true);
    assert.equal(f64([1]).isLeaf, true);
    assert.equal(x.mul(2).isLeaf, false);
    assert.equal(f64([1]).mul(2).isLeaf, true); // no input requires grad: no graph
    assert.equal(x.detach().isLeaf, true);
  });

  test('an input without requiresGrad gets no gradient', () => {
    const x = f64([1, 2], true);
    const c = f64([3, 4]);
    x.mul(c).sum().backward();
    assert.equal(c.grad, null);
    assert.deepEqual(grad(x), [3, 4]);
  });
});

describe('dtypes', () => {
  test('a float32 parameter in a float64 op: the result is float64, the gradient float32', () => {
    const w = tensor([0.5, -1.5], { requiresGrad: true });
    assert.equal(w.dtype, 'float32');
    const x = f64([0.1, 0.2]);
    const y = w.mul(x);
    assert.equal(y.dtype, 'float64');
    y.sum().backward();
    assert.equal(w.grad!.dtype, 'float32');
    assert.deepEqual(grad(w), [Math.fround(0.1), Math.fround(0.2)]);

    const m = tensor([[1, 2]], { requiresGrad: true });
    const out = matmul(m, f64([[3], [4]]));
    assert.equal(out.dtype, 'float64');
    out.backward();
    assert.equal(m.grad!.dtype, 'float32');
    assert.deepEqual(grad(m), [[3, 4]]);
  });

  test('to(float64) is differentiable and casts the gradient back', () => {
    const w = tensor([3], { requiresGrad: true });
    const y = w.to('float64').pow(2);
    assert.equal(y.dtype, 'float64');
    y.backward();
    assert.equal(w.grad!.dtype, 'float32');
    assert.deepEqual(grad(w), [6]);
  });
});

describe('depth', () => {
  test('a chain of 10,000 ops neither overflows the stack nor loses accuracy', () => {
    const x = f64([1], true);
    let y = x;
    for (let i = 0; i < 5000; i++) y = y.mul(1.0001).add(0.5);
    y.sum().backward();
    const want = Math.pow(1.0001, 5000);
    assert.ok(Math.abs((grad(x) as number[])[0] - want) < 1e-10 * want);
  });

  test('a wide fan-in of 10,000 uses of one leaf', () => {
    const x = f64([1, 2], true);
    let acc = x.mul(0);
    for (let i = 0; i < 10000; i++) acc = acc.add(x);
    acc.sum().backward();
    assert.deepEqual(grad(x), [10000, 10000]);
  });

  test('ones-shaped seeds work for every dtype', () => {
    const x = ones([2], { requiresGrad: true });
    x.mul(2).backward(ones([2]));
    assert.deepEqual(grad(x), [2, 2]);
  });
});
