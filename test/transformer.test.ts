// The pre-norm transformer block and the GPT against PyTorch (the tiny GPT of model-trajectories.json:
// 3 Adam steps, losses and final state within 1e-10 in float64), gradCheck through a block and a
// two-block GPT, causality, dropout and modes, shapes; clipGradNorm and the cosine schedule's linear
// warm-up against hand-computed values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { losses, nn, optim, random, tensor, Tensor, type NestedArray } from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { fixture } from './helpers/fixtures.js';
import { checkModule } from './helpers/module-gradcheck.js';

interface TrajectoryCase {
  name: string;
  pytorch: string;
  x: number[][];
  y: number[][];
  initialState: Record<string, NestedArray[]>;
  losses: number[];
  finalState: Record<string, NestedArray[]>;
}

describe('the tiny GPT of model-trajectories.json: 3 Adam steps as PyTorch', () => {
  const c = fixture<{ cases: TrajectoryCase[] }>('model-trajectories.json').cases[1];
  const dtype = 'float64';
  // vocab 11, ctx 6, E 8, 2 heads, one block (the case's `pytorch` field).
  const build = () =>
    new nn.GPT({ vocabSize: 11, contextLength: 6, embedDim: 8, numHeads: 2, numLayers: 1, dtype });
  // The fixture's model is written flat (ln1, attn, ... at the top); ours keeps blocks in `blocks`.
  const TOP = /^(tok|pos|lnf|head)\./;
  const ourKey = (key: string) => (TOP.test(key) ? key : `blocks.0.${key}`);
  // PyTorch's Linear weight is [out, in]; ours is [in, out]. The attention's out_proj keeps PyTorch's.
  const LINEAR_WEIGHTS = new Set(['fc.weight', 'proj.weight', 'head.weight']);
  const ours = (key: string, v: NestedArray[]): Tensor => {
    const t = tensor(v, { dtype });
    return LINEAR_WEIGHTS.has(key) ? t.T : t;
  };
  const ourState = (state: Record<string, NestedArray[]>) =>
    Object.fromEntries(Object.entries(state).map(([k, v]) => [ourKey(k), ours(k, v)]));

  test('the case is the model built here: every key maps onto a parameter of the same shape', () => {
    assert.match(c.name, /^tiny GPT \(vocab 11, context 6, E 8, 2 heads, one pre-norm block\)/);
    assert.match(c.pytorch, /h \+= attn\(ln1\(h\)\) causal; h \+= proj\(gelu\(fc\(ln2\(h\)\)\)\)/);
    const model = build();
    assert.deepEqual(Object.keys(ourState(c.initialState)), Object.keys(model.stateDict()));
    model.loadStateDict(ourState(c.initialState)); // strict: shapes and keys
  });

  test('losses and final state within 1e-10', () => {
    const model = build();
    model.loadStateDict(ourState(c.initialState));
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    const x = tensor(c.x, { dtype });
    const y = c.y.flat();
    const keyBias = model.blocks[0].attn.in_proj_bias!;
    for (let step = 0; step < 3; step++) {
      opt.zeroGrad();
      const logits = model.forward(x);
      assert.deepEqual(logits.shape, [3, 6, 11]);
      const loss = losses.crossEntropy(logits.reshape(-1, 11), y);
      assertClose(loss.item(), c.losses[step], { rel: 1e-10, what: `loss at step ${step + 1}` });
      loss.backward();
      // The key projection's bias shifts every score of a query alike, which softmax ignores: its
      // gradient is 0 in exact arithmetic and what arrives is rounding noise (PyTorch's differs). Adam,
      // dividing by its own scale, turns noise g into steps up to lr·|g|/eps.
      const gk = keyBias.grad!.data.subarray(8, 16);
      assert.ok(Math.max(...Array.from(gk, Math.abs)) < 1e-15, `key bias gradient ${Array.from(gk)}`);
      opt.step();
    }
    const final = model.stateDict();
    for (const [k, v] of Object.entries(c.finalState)) {
      const want = ours(k, v).data;
      const got = final[ourKey(k)].data;
      if (k === 'attn.in_proj_bias') {
        // The key rows (8…15) get 3 noise-driven steps of at most lr·1e-15/1e-8 each.
        assertClose(got.subarray(8, 16), want.subarray(8, 16), { abs: 3e-9, what: `${k} (key rows)` });
        assertClose(got.subarray(0, 8), want.subarray(0, 8), { rel: 1e-10, abs: 1e-15, what: `${k} (q)` });
        assertClose(got.subarray(16), want.subarray(16), { rel: 1e-10, abs: 1e-15, what: `${k} (v)` });
      } else assertClose(got, want, { rel: 1e-10, abs: 1e-15, what: k });
    }
  });
});

const rs = (seed: number, shape: number[]) => new random.RandomState(seed).randn(shape);

describe('TransformerBlock and GPT', () => {
  test('gradCheck through a block: input and every parameter', () => {
    const block = new nn.TransformerBlock(4, 2, {
      hidden: 6,
      dtype: 'float64',
      rng: new random.RandomState(3),
    });
    // LayerNorm's default weight 1 and bias 0 would hide a swapped weight and bias: perturb them.
    for (const p of block.parameters())
      p.data.set(
        rs(p.size + 11, [...p.shape])
          .mul(0.5)
          .add(p).data,
      );
    const x = rs(5, [2, 3, 4]);
    checkModule('pre-norm block', block, [x], (xx) => block.forward(xx));
  });

  test('gradCheck through a two-block GPT, every parameter (indices are not differentiable)', () => {
    const rng = new random.RandomState(4);
    const gpt = new nn.GPT({
      vocabSize: 5,
      contextLength: 4,
      embedDim: 4,
      numHeads: 2,
      numLayers: 2,
      hidden: 6,
      dtype: 'float64',
      init: 'pytorch',
      rng,
    });
    const idx = tensor([
      [1, 4, 4, 0],
      [3, 2, 0, 1],
    ]);
    const targets = [4, 4, 0, 2, 2, 0, 1, 3];
    checkModule('GPT', gpt, [], () => losses.crossEntropy(gpt.forward(idx).reshape(-1, 5), targets));
  });

  test('causal: a later token changes no earlier position’s logits', () => {
    const gpt = new nn.GPT({ vocabSize: 7, contextLength: 5, embedDim: 8, numHeads: 2, numLayers: 2 });
    const a = gpt.forward(tensor([[1, 2, 3, 4, 5]]));
    const b = gpt.forward(tensor([[1, 2, 3, 6, 0]]));
    assert.deepEqual(Array.from(a.data.subarray(0, 3 * 7)), Array.from(b.data.subarray(0, 3 * 7)));
    assert.notDeepEqual(Array.from(a.data.subarray(3 * 7)), Array.from(b.data.subarray(3 * 7)));
  });

  test('shorter sequences use the first positions; an unbatched sequence gives [L, vocab]', () => {
    const gpt = new nn.GPT({ vocabSize: 7, contextLength: 5, embedDim: 8, numHeads: 2 });
    const full = gpt.forward(tensor([[3, 1, 4, 1, 5]]));
    const short = gpt.forward(tensor([3, 1, 4]));
    assert.deepEqual(short.shape, [3, 7]);
    assertClose(short.data, full.data.subarray(0, 3 * 7), { rel: 1e-6, abs: 1e-7, what: 'prefix' });
  });

  test('state keys, sizes and GPT-2 initialisation', () => {
    const gpt = new nn.GPT({
      vocabSize: 65,
      contextLength: 64,
      embedDim: 128,
      numHeads: 4,
      numLayers: 4,
      rng: new random.RandomState(0),
    });
    // The bench's W5 model: ≈ 0.8M parameters.
    assert.equal(gpt.numParameters(), 818_241);
    const keys = gpt.namedParameters().map(([k]) => k);
    assert.deepEqual(keys.slice(0, 4), [
      'tok.weight',
      'pos.weight',
      'blocks.0.ln1.weight',
      'blocks.0.ln1.bias',
    ]);
    assert.ok(keys.includes('blocks.3.attn.out_proj.weight'));
    assert.deepEqual(keys.slice(-4), ['lnf.weight', 'lnf.bias', 'head.weight', 'head.bias']);
    const std = (t: Tensor) => Math.sqrt(Array.from(t.data).reduce((s, v) => s + v * v, 0) / t.size);
    const b0 = gpt.blocks[0];
    assertClose(std(gpt.tok.weight), 0.02, { rel: 0.05, what: 'tok std' });
    assertClose(std(b0.fc.weight), 0.02, { rel: 0.05, what: 'fc std' });
    assertClose(std(b0.proj.weight), 0.02 / Math.sqrt(8), { rel: 0.05, what: 'proj std' });
    assertClose(std(b0.attn.out_proj.weight), 0.02 / Math.sqrt(8), { rel: 0.05, what: 'out_proj std' });
    for (const t of [b0.fc.bias!, b0.attn.in_proj_bias!, gpt.head.bias!])
      assert.ok(t.data.every((v) => v === 0));
    assert.ok(b0.ln1.weight!.data.every((v) => v === 1));
  });

  test('dropout acts in training mode only; eval() reaches every block', () => {
    const make = (dropout: number) =>
      new nn.GPT({
        vocabSize: 6,
        contextLength: 4,
        embedDim: 8,
        numHeads: 2,
        numLayers: 2,
        dropout,
        rng: new random.RandomState(9),
      });
    const plain = make(0);
    const dropped = make(0.5);
    const idx = tensor([[0, 1, 2, 3]]);
    const a = dropped.forward(idx);
    const b = dropped.forward(idx);
    assert.notDeepEqual(Array.from(a.data), Array.from(b.data));
    dropped.eval();
    assert.ok(dropped.blocks.every((bl) => !bl.training && !bl.attn.training && !bl.mlpDrop.training));
    assert.deepEqual(Array.from(dropped.forward(idx).data), Array.from(plain.forward(idx).data));
  });

  test('bad input is named', () => {
    const gpt = new nn.GPT({ vocabSize: 6, contextLength: 4, embedDim: 8, numHeads: 2 });
    assert.throws(() => gpt.forward(tensor([[0, 1, 2, 3, 4]])), /GPT: sequence length 5 is outside 1…4/);
    assert.throws(
      () => gpt.forward(tensor([[[0]]])),
      /GPT: input has shape \[1, 1, 1\], expected token indices/,
    );
    assert.throws(
      () => new nn.GPT({ vocabSize: 6, contextLength: 4, embedDim: 8, numHeads: 3 }),
      /embedDim 8 is not divisible by numHeads 3/,
    );
    assert.throws(
      () => new nn.GPT({ vocabSize: 0, contextLength: 4, embedDim: 8, numHeads: 2 }),
      /GPT: vocabSize must be a positive integer, got 0/,
    );
    const block = new nn.TransformerBlock(8, 2);
    assert.throws(() => block.forward(tensor([[1, 2]])), /TransformerBlock\(8\): input has shape \[1, 2\]/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// clipGradNorm (PyTorch's clip_grad_norm_) and the linear warm-up before the cosine schedule.

/** Leaves with the given gradients (null: no gradient). */
function withGrads(grads: (number[] | null)[], dtype: 'float32' | 'float64' = 'float64'): Tensor[] {
  return grads.map((g, i) => {
    const p = tensor(g ?? [i], { dtype, requiresGrad: true });
    if (g) p.grad = tensor(g, { dtype });
    return p;
  });
}

describe('clipGradNorm', () => {
  test('scales every gradient by maxNorm / (total + 1e-6) when that is below 1', () => {
    // Norms 5 and 12: total √(25 + 144) = 13; the parameter without a gradient is skipped.
    const ps = withGrads([[3, 4], null, [-12]]);
    assert.equal(optim.clipGradNorm(ps, 6.5), 13);
    const c = 6.5 / 13.000001;
    assert.deepEqual(Array.from(ps[0].grad!.data), [3 * c, 4 * c]);
    assert.deepEqual(Array.from(ps[2].grad!.data), [-12 * c]);
    assert.equal(ps[1].grad, null);
  });

  test('leaves gradients below the bound alone; at the bound the 1e-6 still clips, as PyTorch', () => {
    const below = withGrads([[3, 4], [-12]]);
    assert.equal(optim.clipGradNorm(below, 13.5), 13);
    assert.deepEqual(Array.from(below[0].grad!.data), [3, 4]);
    const at = withGrads([[3, 4], [-12]]);
    optim.clipGradNorm(at, 13);
    assert.deepEqual(Array.from(at[1].grad!.data), [-12 * (13 / 13.000001)]);
  });

  test('other norms: Infinity is the largest magnitude, 1 the sum of magnitudes', () => {
    assert.equal(optim.clipGradNorm(withGrads([[3, -4], [-12]]), 100, { normType: Infinity }), 12);
    assert.equal(optim.clipGradNorm(withGrads([[3, -4], [-12]]), 100, { normType: 1 }), 19);
    const ps = withGrads([[3, -4], [-12]]);
    optim.clipGradNorm(ps, 6, { normType: Infinity });
    assert.deepEqual(Array.from(ps[1].grad!.data), [-12 * (6 / 12.000001)]);
  });

  test('float32 gradients are scaled by the coefficient in float32; no gradients gives 0', () => {
    const ps = withGrads([[3, 4]], 'float32');
    optim.clipGradNorm(ps, 1);
    const c = Math.fround(1 / 5.000001);
    assert.deepEqual(Array.from(ps[0].grad!.data), [Math.fround(3 * c), Math.fround(4 * c)]);
    assert.equal(optim.clipGradNorm(withGrads([null]), 1), 0);
  });

  test('a non-finite total: NaN gradients (as PyTorch), or an error when asked', () => {
    const ps = withGrads([[3, NaN]]);
    assert.ok(Number.isNaN(optim.clipGradNorm(ps, 1)));
    assert.ok(Number.isNaN(ps[0].grad!.data[0]));
    assert.throws(
      () => optim.clipGradNorm(withGrads([[Infinity]]), 1, { errorIfNonfinite: true }),
      /clipGradNorm: the total norm of order 2 of the gradients is Infinity/,
    );
    assert.throws(() => optim.clipGradNorm(withGrads([[1]]), -1), /maxNorm must be ≥ 0, got -1/);
    assert.throws(() => optim.clipGradNorm(withGrads([[1]]), 1, { normType: 0 }), /normType must be > 0/);
  });
});

describe('CosineAnnealingLR with a linear warm-up', () => {
  const opt = (lr: number) => new optim.SGD([tensor([1], { requiresGrad: true })], { lr });
  /** The rate in force at epochs 0…n (before the first step, then after each). */
  const rates = (s: optim.CosineAnnealingLR, n: number) => {
    const out = [s.lr];
    for (let i = 0; i < n; i++) {
      s.step();
      out.push(s.lr);
    }
    return out;
  };

  test('ramps from base/(warmup + 1) to the base, then the cosine down to etaMin', () => {
    const got = rates(new optim.CosineAnnealingLR(opt(0.1), { tMax: 4, warmup: 4 }), 8);
    // 0.1·(e+1)/5 for e < 4; then 0.1·(1 + cos(π·k/4))/2 for k = 0…4.
    const want = [0.02, 0.04, 0.06, 0.08, 0.1, 0.08535533905932738, 0.05, 0.014644660940672627, 0];
    assertClose(got, want, { rel: 1e-15, abs: 1e-17, what: 'rates' });
    assert.equal(got[4], 0.1);
  });

  test('a start factor; the cosine part is the plain schedule shifted by the warm-up, bit for bit', () => {
    const warm = rates(
      new optim.CosineAnnealingLR(opt(0.3), { tMax: 5, etaMin: 0.01, warmup: 2, warmupStartFactor: 0.5 }),
      12,
    );
    assertClose(warm.slice(0, 3), [0.15, 0.225, 0.3], { rel: 1e-15, what: 'warm-up' });
    const plain = rates(new optim.CosineAnnealingLR(opt(0.3), { tMax: 5, etaMin: 0.01 }), 10);
    assert.deepEqual(warm.slice(2), plain);
  });

  test('rejects a bad warm-up', () => {
    assert.throws(
      () => new optim.CosineAnnealingLR(opt(0.1), { tMax: 4, warmup: 1.5 }),
      /warmup must be a non-negative integer, got 1.5/,
    );
    assert.throws(
      () => new optim.CosineAnnealingLR(opt(0.1), { tMax: 4, warmup: 2, warmupStartFactor: 0 }),
      /warmupStartFactor must be in \(0, 1\], got 0/,
    );
  });
});
