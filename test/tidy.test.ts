// tidy (src/tidy.ts): a step's op results and gradients in the kernel set's memory, given back when it
// returns. Inside it, training gives the bits it gives outside (a GPT with dropout and clipping by hand;
// fit over an LSTM forecaster and over a CNN with BatchNorm and metrics); .grad, returned tensors,
// buffers and factory-made tensors outlive it in ordinary arrays; the next step reuses the same memory;
// an exception gives it back; nested calls join the outer one; sets without memory of their own just run
// the function; and fit decides by `tidySafe` unless told.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluate,
  fit,
  kernels,
  losses,
  nn,
  optim,
  random,
  referenceKernels,
  Tensor,
  tidy,
  type Kernels,
} from '../src/index.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { tidySafe } from '../src/tidy.js';
import { withSet, withSetAsync } from './helpers/with-kernels.js';

const wasm2 = (await loadWasmKernels({ relaxed: false, threads: 2, minThreadWork: 1 })) as Kernels;
assert.ok(wasm2, 'the WebAssembly set loads');

function randn(shape: number[], seed: number): Tensor {
  const rng = new random.RandomState(seed);
  const d = new Float64Array(shape.reduce((a, b) => a * b, 1));
  rng.fillNormal(d, 0, 1);
  return new Tensor(Float32Array.from(d), shape);
}

/** wasm2, counting the scratch blocks it hands out (so a test knows tidy was in use). */
let scratchBlocks = 0;
const counting: Kernels = Object.create(wasm2);
counting.alloc = (dtype, n, untracked) => {
  if (untracked) scratchBlocks++;
  return (wasm2.alloc as NonNullable<Kernels['alloc']>)(dtype, n, untracked);
};

const shared = (s: ArrayLike<number>) => (s as Float32Array).buffer instanceof SharedArrayBuffer;

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++)
    if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** A small GPT's losses, parameters and gradients over a few AdamW steps (dropout, clipping). */
function gptRun(scratch: boolean) {
  const rng = new random.RandomState(3);
  const model = new nn.GPT({
    vocabSize: 13,
    contextLength: 16,
    embedDim: 32,
    numHeads: 2,
    numLayers: 2,
    dropout: 0.1,
    rng,
  });
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  const tokens = new random.RandomState(9);
  const lossesSeen: number[] = [];
  for (let s = 0; s < 4; s++) {
    const x = new Float32Array(8 * 16);
    const y = new Float32Array(8 * 16);
    for (let i = 0; i < x.length; i++) {
      x[i] = Math.floor(tokens.random() * 13);
      y[i] = Math.floor(tokens.random() * 13);
    }
    const body = () => {
      opt.zeroGrad();
      const logits = model.forward(new Tensor(x, [8, 16]));
      const loss = losses.crossEntropy(logits.reshape(-1, 13), y);
      loss.backward();
      optim.clipGradNorm(model.parameters(), 1);
      opt.step();
      return loss.item();
    };
    lossesSeen.push(scratch ? tidy(body) : body());
  }
  return { losses: lossesSeen, params: model.parameters() };
}

describe('tidy: the same bits as without it', () => {
  test('a GPT with dropout and gradient clipping, four AdamW steps (two-thread WebAssembly set)', () => {
    const plain = withSet(wasm2, () => gptRun(false));
    const tidied = withSet(wasm2, () => gptRun(true));
    sameBits(tidied.losses, plain.losses, 'losses');
    tidied.params.forEach((p, i) => {
      sameBits(p.data, plain.params[i].data, `parameter ${i}`);
      const g = p.grad as Tensor;
      sameBits(g.data, (plain.params[i].grad as Tensor).data, `gradient ${i}`);
      // A .grad outlives the step in an array of its own, not in the set's scratch memory.
      assert.equal(shared(g.data), false, `gradient ${i} lies in shared memory`);
    });
  });

  async function fitRun(
    make: () => nn.Module,
    data: { x: Tensor; y: Tensor | number[] },
    options: { loss: 'mse' | 'crossEntropy'; metrics?: ('accuracy' | 'mae')[] },
    scratch: boolean,
  ) {
    random.seed(5);
    const model = make();
    scratchBlocks = 0;
    const history = await withSetAsync(counting, () =>
      fit(model, data, {
        ...options,
        optimizer: new optim.Adam(model.parameters(), { lr: 1e-2 }),
        epochs: 2,
        batchSize: 16,
        validationSplit: 0.25,
        rng: new random.RandomState(1),
        tidy: scratch,
      }),
    );
    assert.equal(scratchBlocks > 0, scratch, `scratch blocks handed out: ${scratchBlocks}`);
    return { history, state: model.stateDict() };
  }

  function sameRuns(a: Awaited<ReturnType<typeof fitRun>>, b: Awaited<ReturnType<typeof fitRun>>): void {
    assert.equal(a.history.epochs.length, b.history.epochs.length);
    a.history.epochs.forEach((e, i) => {
      const f = b.history.epochs[i];
      assert.ok(Object.is(e.loss, f.loss), `epoch ${i + 1} loss ${e.loss} vs ${f.loss}`);
      assert.ok(Object.is(e.valLoss, f.valLoss), `epoch ${i + 1} valLoss`);
      assert.deepEqual(e.metrics, f.metrics);
      assert.deepEqual(e.valMetrics, f.valMetrics);
    });
    for (const [name, t] of Object.entries(a.state)) {
      sameBits(t.data, b.state[name].data, name);
      assert.equal(shared(t.data), false, `${name} lies in shared memory`);
    }
  }

  test('fit: an LSTM forecaster (Sequential(LSTM, LastStep, Linear)), MSE with MAE', async () => {
    const make = () =>
      new nn.Sequential(new nn.LSTM(3, 40, { batchFirst: true }), new nn.LastStep(), new nn.Linear(40, 1));
    const data = { x: randn([64, 12, 3], 1), y: randn([64, 1], 2) };
    const o = { loss: 'mse' as const, metrics: ['mae' as const] };
    sameRuns(await fitRun(make, data, o, true), await fitRun(make, data, o, false));
  });

  test('fit: a CNN with BatchNorm (running statistics) and accuracy', async () => {
    const make = () =>
      new nn.Sequential(
        new nn.Conv2d(1, 8, 3, { padding: 1 }),
        new nn.BatchNorm2d(8),
        new nn.ReLU(),
        new nn.MaxPool2d(2),
        new nn.Flatten(),
        new nn.Linear(8 * 6 * 6, 3),
      );
    const labels = Array.from({ length: 48 }, (_, i) => i % 3);
    const data = { x: randn([48, 1, 12, 12], 3), y: labels };
    const o = { loss: 'crossEntropy' as const, metrics: ['accuracy' as const] };
    sameRuns(await fitRun(make, data, o, true), await fitRun(make, data, o, false));
  });
});

describe('tidy: what outlives it and what is reused', () => {
  const x = randn([64, 64], 4);
  const w = randn([64, 64], 5);

  test('op results lie in the set’s memory inside, and the next call reuses the same blocks', () => {
    withSet(wasm2, () => {
      const at: number[] = [];
      for (let i = 0; i < 3; i++)
        tidy(() => {
          const y = x.matmul(w).relu();
          assert.ok(shared(y.data), 'an op result inside tidy lies in the set’s memory');
          at.push(y.data.byteOffset);
        });
      assert.equal(new Set(at).size, 1, `offsets ${at.join(', ')}`);
    });
  });

  test('a returned tensor is copied out, and stays as it was after later steps', () => {
    withSet(wasm2, () => {
      const y = tidy(() => x.matmul(w));
      assert.equal(shared(y.data), false);
      const expected = x.matmul(w).data.slice();
      tidy(() => x.matmul(w).mul(-3));
      sameBits(y.data, expected, 'returned tensor');
      assert.equal(y.requiresGrad, false);
    });
  });

  test('an exception inside gives the memory back; nested calls join the outer one', () => {
    withSet(wasm2, () => {
      let first = -1;
      tidy(() => (first = x.matmul(w).data.byteOffset));
      assert.throws(
        () =>
          tidy(() => {
            x.matmul(w);
            throw new Error('boom');
          }),
        /boom/,
      );
      tidy(() => assert.equal(x.matmul(w).data.byteOffset, first));
      tidy(() => {
        const inner = tidy(() => x.matmul(w));
        // Joined: the inner result is the outer step's scratch, valid until the outer call returns.
        assert.ok(shared(inner.data));
        assert.ok(Number.isFinite(inner.data[0]));
      });
    });
  });

  test('an async function is refused (its memory would go back at the first await)', () => {
    withSet(wasm2, () =>
      assert.throws(
        () => tidy(async () => x.matmul(w)),
        /tidy: the function returned a promise; .* must be synchronous/,
      ),
    );
  });

  test('a backward that throws leaves no pending gradient in scratch memory behind', () => {
    withSet(wasm2, () => {
      const a = new Tensor(x.data.slice(), x.shape, true);
      const boom = () => {
        // loss = bad(a) + sum(a): the sum's backward runs first and leaves a gradient pending on a,
        // then bad's backward throws before a is reached.
        const bad = a.mul(3).mul(2);
        (bad._node as { backward: unknown }).backward = () => {
          throw new Error('backward failed');
        };
        bad.sum().add(a.sum()).backward();
      };
      assert.throws(() => tidy(boom), /backward failed/);
      assert.equal(a._g, null);
      tidy(() => a.matmul(w).sum().backward());
      const expected = new Tensor(x.data.slice(), x.shape, true);
      expected.matmul(w).sum().backward();
      sameBits((a.grad as Tensor).data, (expected.grad as Tensor).data, 'gradient after the failed pass');
    });
  });

  test('short results and sets without memory of their own: ordinary arrays, the same values', () => {
    withSet(wasm2, () => tidy(() => assert.equal(shared(x.sum().data), false)));
    withSet(referenceKernels, () => {
      const y = tidy(() => x.matmul(w).relu());
      assert.equal(shared(y.data), false);
      assert.ok(kernels() === referenceKernels);
    });
  });
});

describe('tidySafe: what fit trusts without being told', () => {
  class MyLinear extends nn.Linear {}
  class MySGD extends optim.SGD {}
  const gpt = new nn.GPT({ vocabSize: 5, contextLength: 4, embedDim: 8, numHeads: 2 });
  const opt = new optim.AdamW(gpt.parameters(), { lr: 1e-3 });

  test('the library’s modules, losses and optimizers', () => {
    assert.equal(tidySafe(gpt, 'crossEntropy', opt), true);
    assert.equal(tidySafe(gpt, losses.mse, opt), true);
    assert.equal(tidySafe(new nn.Sequential(new nn.Linear(2, 2), new nn.ReLU()), 'mse'), true);
  });

  test('a subclass, a loss function of one’s own or an optimizer of one’s own: not without being told', () => {
    const mine = new nn.Sequential(new MyLinear(2, 2));
    assert.equal(tidySafe(mine, 'mse', new optim.SGD(mine.parameters(), { lr: 0.1 })), false);
    assert.equal(
      tidySafe(gpt, (p: Tensor, t: Tensor) => losses.mse(p, t), opt),
      false,
    );
    assert.equal(tidySafe(gpt, 'mse', new MySGD(gpt.parameters(), { lr: 0.1 })), false);
  });

  test('a method replaced on an instance (a hook on forward) is not trusted: the hook may keep results', async () => {
    const relu = new nn.ReLU();
    const model = new nn.Sequential(new nn.Linear(64, 64), relu, new nn.Linear(64, 1));
    assert.equal(tidySafe(model, 'mse'), true);
    const original = relu.forward.bind(relu);
    let kept: Tensor | null = null;
    relu.forward = (x: Tensor) => (kept = original(x));
    assert.equal(tidySafe(model, 'mse'), false);
    // fit therefore trains without tidy, and the kept activation stays as it was.
    const data = { x: randn([64, 64], 8), y: randn([64, 1], 9) };
    await withSetAsync(wasm2, () =>
      fit(model, data, {
        loss: 'mse',
        optimizer: new optim.SGD(model.parameters(), { lr: 0.01 }),
        epochs: 1,
        batchSize: 64,
        fused: false,
      }),
    );
    const k = kept as unknown as Tensor;
    assert.equal(shared(k.data), false);
  });

  test('evaluate gives the same loss with and without it (off unless asked: memory)', () => {
    const model = new nn.Sequential(new nn.Linear(64, 40), new nn.GELU(), new nn.Linear(40, 1));
    const data = { x: randn([64, 64], 6), y: randn([64, 1], 7) };
    const a = withSet(wasm2, () => evaluate(model, data, { loss: 'mse', tidy: true }));
    const b = withSet(wasm2, () => evaluate(model, data, { loss: 'mse', tidy: false }));
    assert.ok(Object.is(a.loss, b.loss));
  });
});
