// Tensor creation, conversion and the error messages of bad input: each names the op and what came.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  arange,
  add,
  sub,
  mul,
  div,
  maximum,
  matmul,
  clamp,
  type NestedArray,
} from '../src/index.js';

/** assert.throws with a message that contains every one of `parts` literally. */
function throwsWith(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, 'expected an Error');
    for (const p of parts)
      assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${p}`);
    return true;
  });
}

describe('tensor()', () => {
  test('from a number: a float32 scalar', () => {
    const t = tensor(3.5);
    assert.deepEqual(t.shape, []);
    assert.equal(t.dtype, 'float32');
    assert.equal(t.size, 1);
    assert.equal(t.ndim, 0);
    assert.equal(t.item(), 3.5);
    assert.equal(t.toArray(), 3.5);
    assert.equal(tensor(0.1).item(), Math.fround(0.1));
    assert.equal(tensor(0.1, { dtype: 'float64' }).item(), 0.1);
  });

  test('from nested arrays', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.dtype, 'float32');
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual([...t.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(tensor([[[1], [2]]]).shape, [1, 2, 1]);
    assert.deepEqual(tensor([]).shape, [0]);
    assert.deepEqual(tensor([[], []]).shape, [2, 0]);
  });

  test('from typed arrays: the dtype follows the array', () => {
    const a = tensor(new Float64Array([1, 2, 0.1]));
    assert.equal(a.dtype, 'float64');
    assert.equal(a.data[2], 0.1);
    const b = tensor(new Float32Array([1, 2]));
    assert.equal(b.dtype, 'float32');
    assert.equal(tensor(new Float64Array([1]), { dtype: 'float32' }).dtype, 'float32');
    assert.equal(tensor(new Int32Array([1, 2])).dtype, 'float32');
    // A copy, not a view of the caller's array.
    const src = new Float64Array([1, 2]);
    const c = tensor(src);
    src[0] = 9;
    assert.equal(c.data[0], 1);
  });

  test('from another tensor: a copy with its dtype', () => {
    const a = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const b = tensor(a);
    assert.equal(b.dtype, 'float64');
    assert.notEqual(b.data, a.data);
    assert.equal(b.requiresGrad, false);
    assert.equal(tensor(a, { dtype: 'float32' }).dtype, 'float32');
  });

  test('the shape option shapes flat data', () => {
    const t = tensor(new Float64Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(t.toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(tensor([1, 2, 3, 4], { shape: [2, 2] }).shape, [2, 2]);
    assert.deepEqual(tensor(7, { shape: [1, 1] }).shape, [1, 1]);
    throwsWith(() => tensor([1, 2, 3], { shape: [2, 2] }), '3 elements', '[2, 2]');
    throwsWith(() => tensor([1, 2, 3, 4], { shape: [-2, -2] }), '[-2, -2]');
    throwsWith(() => tensor([1, 2], { shape: [0.5, 4] }), '[0.5, 4]');
  });

  test('requiresGrad option', () => {
    assert.equal(tensor([1]).requiresGrad, false);
    assert.equal(tensor([1], { requiresGrad: true }).requiresGrad, true);
  });

  test('ragged arrays: the error names the path', () => {
    throwsWith(() => tensor([[1, 2], [3]]), 'ragged', '[1]', '1 entries', 'expected 2');
    throwsWith(
      () =>
        tensor([
          [
            [1, 2],
            [3, 4],
          ],
          [[5, 6], [7]],
        ]),
      'ragged',
      '[1][1]',
    );
    throwsWith(() => tensor([[1, 2], 3] as NestedArray[]), 'ragged', '[1]', 'a number');
    throwsWith(() => tensor([1, [2]] as NestedArray[]), 'ragged', '[1]', 'is an array');
  });

  test('non-number elements are refused, with the index', () => {
    throwsWith(() => tensor([[1, 'a']] as unknown as NestedArray[]), 'element 1', 'string');
    throwsWith(() => tensor([1, 2, null] as unknown as NestedArray[]), 'element 2', 'object');
    throwsWith(() => tensor([undefined] as unknown as NestedArray[]), 'element 0', 'undefined');
    throwsWith(
      () => tensor({ length: 2, 0: 1, 1: 'x' } as unknown as ArrayLike<number>),
      'element 1',
      'string',
    );
    throwsWith(() => tensor('abc' as unknown as number), 'string');
    throwsWith(() => tensor({} as unknown as number), 'object');
  });

  test('a bad dtype is refused', () => {
    throwsWith(() => tensor([1], { dtype: 'int32' as 'float32' }), 'int32');
  });

  test('NaN and infinities are numbers', () => {
    const t = tensor([NaN, Infinity, -Infinity], { dtype: 'float64' });
    assert.ok(Number.isNaN(t.data[0]));
    assert.equal(t.data[1], Infinity);
  });
});

describe('zeros, ones, full, arange', () => {
  test('values, shapes and dtypes', () => {
    const z = zeros([2, 3]);
    assert.deepEqual(z.shape, [2, 3]);
    assert.equal(z.dtype, 'float32');
    assert.ok(z.data.every((v) => v === 0));
    const o = ones([3], { dtype: 'float64', requiresGrad: true });
    assert.deepEqual(o.toArray(), [1, 1, 1]);
    assert.equal(o.dtype, 'float64');
    assert.equal(o.requiresGrad, true);
    assert.deepEqual(full([2, 2], 7).toArray(), [
      [7, 7],
      [7, 7],
    ]);
    assert.deepEqual(full([], 2.5).toArray(), 2.5);
    assert.deepEqual(zeros([0, 3]).shape, [0, 3]);
  });

  test('bad shapes are refused with the shape', () => {
    throwsWith(() => zeros([2, -1]), 'zeros', '[2, -1]');
    throwsWith(() => ones([1.5]), 'ones', '[1.5]');
    throwsWith(() => full([NaN], 1), 'full', '[NaN]');
  });

  test('arange follows numpy', () => {
    assert.deepEqual(arange(5).toArray(), [0, 1, 2, 3, 4]);
    assert.deepEqual(arange(2, 5).toArray(), [2, 3, 4]);
    assert.deepEqual(arange(0, 1, 0.25).toArray(), [0, 0.25, 0.5, 0.75]);
    assert.deepEqual(arange(5, 0, -2).toArray(), [5, 3, 1]);
    assert.deepEqual(arange(3, 1).toArray(), []);
    assert.deepEqual(arange(0, 1, 0.1, { dtype: 'float64' }).size, 10);
    assert.equal(arange(3, undefined, 1, { dtype: 'float64' }).dtype, 'float64');
  });

  test('arange refuses a zero or non-finite step', () => {
    throwsWith(() => arange(0, 5, 0), 'arange', 'step', '0');
    throwsWith(() => arange(0, Infinity), 'arange', 'Infinity');
    throwsWith(() => arange(NaN), 'arange', 'NaN');
  });
});

describe('conversion', () => {
  test('toArray round-trips through tensor()', () => {
    const cases: NestedArray[] = [
      5,
      [1, 2, 3],
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      [
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [
          [7, 8, 9],
          [10, 11, 12],
        ],
      ],
      [],
      [[], []],
    ];
    for (const c of cases) assert.deepEqual(tensor(c).toArray(), c);
  });

  test('item() needs exactly one element', () => {
    assert.equal(tensor([[4]]).item(), 4);
    throwsWith(() => tensor([1, 2]).item(), 'item', '[2]', '2 elements');
    throwsWith(() => tensor([]).item(), 'item', '0 elements');
  });

  test('to() converts dtype and is the identity for the same dtype', () => {
    const a = tensor([0.1, 0.2], { dtype: 'float64' });
    const b = a.to('float32');
    assert.equal(b.dtype, 'float32');
    assert.equal(b.data[0], Math.fround(0.1));
    assert.equal(a.to('float64'), a);
  });

  test('toString shows dtype, shape and values', () => {
    const s = tensor([1, 2], { requiresGrad: true }).toString();
    assert.ok(
      s.includes('float32') && s.includes('[2]') && s.includes('requiresGrad') && s.includes('[1,2]'),
      s,
    );
  });

  test('the low-level constructor checks that data fills the shape', () => {
    throwsWith(() => new Tensor(new Float32Array(5), [2, 3]), '5 elements', '[2, 3]', '6');
  });
});

describe('shape errors name the op and both shapes', () => {
  const a = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const b = tensor([1, 2, 3, 4]);

  test('broadcasting failures of every binary op', () => {
    for (const [name, f] of [
      ['add', add],
      ['sub', sub],
      ['mul', mul],
      ['div', div],
      ['maximum', maximum],
    ] as const) {
      throwsWith(() => f(a, b), name, '[2, 3]', '[4]');
      throwsWith(() => f(b, a), name, '[4]', '[2, 3]');
    }
    throwsWith(() => a.add(zeros([3, 3])), 'add', '[2, 3]', '[3, 3]');
  });

  test('matmul', () => {
    throwsWith(() => matmul(a, zeros([4, 5])), 'matmul', '[2, 3]', '[4, 5]', 'inner sizes 3 and 4');
    throwsWith(() => matmul(zeros([3]), zeros([4])), 'matmul', '[3]', '[4]');
    throwsWith(() => matmul(zeros([2, 2, 3]), zeros([3, 3, 1])), 'matmul', '[2, 2, 3]', '[3, 3, 1]', 'batch');
    throwsWith(() => matmul(tensor(1), a), 'matmul', 'at least one axis');
    throwsWith(() => matmul(a, 3 as unknown as Tensor), 'matmul', 'expected a Tensor');
  });

  test('reshape', () => {
    throwsWith(() => a.reshape(4, 2), 'reshape', '[2, 3]', '[4, 2]');
    throwsWith(() => a.reshape(-1, 4), 'reshape', '[2, 3]', '[-1, 4]');
    throwsWith(() => a.reshape(-1, -1), 'reshape', 'more than one -1');
    throwsWith(() => a.reshape(-2, -3), 'reshape', '[-2, -3]');
    assert.deepEqual(a.reshape(-1).shape, [6]);
    assert.deepEqual(a.reshape([3, -1]).shape, [3, 2]);
    assert.deepEqual(tensor(5).reshape(1, 1, -1).shape, [1, 1, 1]);
    // A reshape is a view: same storage.
    assert.equal(a.reshape(6).data, a.data);
  });

  test('transpose with invalid axes', () => {
    const x = zeros([2, 3, 4]);
    throwsWith(() => x.transpose([0, 1, 3]), 'transpose', 'axis 3');
    throwsWith(() => x.transpose([0, 0, 1]), 'transpose', '[0, 0, 1]', '[2, 3, 4]');
    throwsWith(() => x.transpose([1, 0]), 'transpose', '[1, 0]', '[2, 3, 4]');
    throwsWith(() => x.transpose([0, 1, -4]), 'transpose', 'axis -4');
  });

  test('reductions with an axis out of range', () => {
    throwsWith(() => a.sum(2), 'sum', 'axis 2');
    throwsWith(() => a.mean(-3), 'mean', 'axis -3');
    throwsWith(() => a.max(5), 'max', 'axis 5');
    throwsWith(() => a.logSumExp(2), 'axis 2');
    throwsWith(() => zeros([0]).max(), 'max', 'empty');
  });

  test('pick: out-of-range index names the row', () => {
    throwsWith(() => a.pick([0, 3]), 'pick', 'index 3', 'row 1');
    throwsWith(() => a.pick([-1, 0]), 'pick', 'index -1', 'row 0');
    throwsWith(() => a.pick([0.5, 0]), 'pick', 'index 0.5', 'row 0');
    throwsWith(() => a.pick([0]), 'pick', '1 indices', '2 rows');
    throwsWith(() => tensor(1).pick([0]), 'pick', 'at least one axis');
  });

  test('clamp with min above max', () => {
    throwsWith(() => clamp(a, 2, 1), 'clamp', '2', '1');
  });

  test('ops refuse non-tensors by name', () => {
    throwsWith(() => add(null as unknown as Tensor, 1), 'add', 'expected a Tensor', 'null');
    throwsWith(() => add(a, 'x' as unknown as Tensor), 'add', 'expected a Tensor', 'string');
    throwsWith(() => mul(a, [1, 2, 3] as unknown as Tensor), 'mul', 'expected a Tensor');
    throwsWith(() => sub(a, undefined as unknown as Tensor), 'sub', 'expected a Tensor');
  });
});
