// Optimizers and learning-rate schedulers: checkpoints that resume bit for bit, validation, single steps
// checked by hand against PyTorch's documented update rules, and schedules against their closed forms.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  kernels,
  losses,
  nn,
  optim,
  random,
  setKernels,
  tensor,
  Tensor,
  type Kernels,
} from '../src/index.js';
import { assertClose } from './helpers/close.js';

function model(seed: number, dtype: 'float32' | 'float64' = 'float64') {
  const rng = new random.RandomState(seed);
  return new nn.Sequential(
    new nn.Linear(3, 4, { rng, dtype }),
    new nn.Tanh(),
    new nn.Linear(4, 2, { rng, dtype }),
  );
}

const data = (() => {
  const rng = new random.RandomState(99);
  return { x: rng.randn(6, 3), y: rng.randn(6, 2) };
})();

function trainStep(m: nn.Module, opt: optim.Optimizer) {
  opt.zeroGrad();
  const dtype = m.parameters()[0].dtype;
  losses.mse(m.forward(data.x.to(dtype)), data.y.to(dtype)).backward();
  opt.step();
}

const flatParams = (m: nn.Module) => m.parameters().flatMap((p) => Array.from(p.data));

type Make = (params: Tensor[]) => optim.Optimizer;
const configs: [string, Make, string[]][] = [
  ['SGD', (p) => new optim.SGD(p, { lr: 0.1 }), []],
  ['SGD momentum', (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.9 }), ['momentum_buffer']],
  [
    'SGD dampening + wd',
    (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 }),
    ['momentum_buffer'],
  ],
  ['SGD nesterov', (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true }), ['momentum_buffer']],
  ['Adam', (p) => new optim.Adam(p, { lr: 0.01, weightDecay: 0.1 }), ['exp_avg', 'exp_avg_sq']],
  [
    'Adam amsgrad',
    (p) => new optim.Adam(p, { lr: 0.01, amsgrad: true }),
    ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'],
  ],
  ['AdamW', (p) => new optim.AdamW(p, { lr: 0.01 }), ['exp_avg', 'exp_avg_sq']],
  [
    'AdamW amsgrad',
    (p) => new optim.AdamW(p, { lr: 0.01, amsgrad: true, weightDecay: 0.2 }),
    ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'],
  ],
  ['RMSprop', (p) => new optim.RMSprop(p, { lr: 0.01 }), ['square_avg']],
  [
    'RMSprop centered momentum wd',
    (p) => new optim.RMSprop(p, { lr: 0.01, centered: true, momentum: 0.8, weightDecay: 0.05 }),
    ['square_avg', 'grad_avg', 'momentum_buffer'],
  ],
  ['Adagrad', (p) => new optim.Adagrad(p, { lr: 0.1 }), ['sum']],
  [
    'Adagrad lrDecay + init',
    (p) => new optim.Adagrad(p, { lr: 0.1, lrDecay: 0.05, initialAccumulatorValue: 0.3, weightDecay: 0.01 }),
    ['sum'],
  ],
];

describe('optimizer checkpoints resume bit for bit', () => {
  for (const [name, make, buffers] of configs) {
    test(name, () => {
      const a = model(0);
      const optA = make(a.parameters());
      for (let i = 0; i < 3; i++) trainStep(a, optA);
      const state = optA.stateDict();
      assert.equal(state.type, name.split(' ')[0]);
      assert.equal(state.step, 3);
      assert.deepEqual(Object.keys(state.buffers).sort(), [...buffers].sort());
      const saved = JSON.stringify(state);

      const b = model(1);
      b.loadStateDict(a.stateDict());
      const optB = make(b.parameters());
      optB.loadStateDict(JSON.parse(saved) as optim.OptimizerState);
      assert.deepEqual(optB.stateDict(), state);
      for (let i = 0; i < 4; i++) {
        trainStep(a, optA);
        trainStep(b, optB);
      }
      assert.deepEqual(flatParams(b), flatParams(a));
      assert.ok(flatParams(a).every(Number.isFinite));
      // The run moved: the parameters are not those of the checkpoint.
      assert.notDeepEqual(flatParams(a), flatParams(model(0)));
    });
  }

  test('float32 too', () => {
    const a = model(0, 'float32');
    const optA = new optim.Adam(a.parameters(), { lr: 0.01, amsgrad: true });
    for (let i = 0; i < 2; i++) trainStep(a, optA);
    const b = model(1, 'float32');
    b.loadStateDict(a.stateDict());
    const optB = new optim.Adam(b.parameters(), { lr: 0.01, amsgrad: true });
    optB.loadStateDict(JSON.parse(JSON.stringify(optA.stateDict())) as optim.OptimizerState);
    for (let i = 0; i < 3; i++) {
      trainStep(a, optA);
      trainStep(b, optB);
    }
    assert.deepEqual(flatParams(b), flatParams(a));
  });

  test('the learning rate is part of the state', () => {
    const opt = new optim.SGD(model(0).parameters(), { lr: 0.1 });
    opt.lr = 0.025;
    const other = new optim.SGD(model(0).parameters(), { lr: 0.1 });
    other.loadStateDict(opt.stateDict());
    assert.equal(other.lr, 0.025);
  });

  test('a state for another optimizer or other parameters is rejected, leaving the optimizer as it was', () => {
    const a = model(0);
    const adam = new optim.Adam(a.parameters());
    trainStep(a, adam);
    const before = JSON.stringify(adam.stateDict());
    const sgd = new optim.SGD(a.parameters(), { lr: 0.1 });
    assert.throws(() => sgd.loadStateDict(adam.stateDict()), /state is for Adam, this optimizer is SGD/);
    const short = adam.stateDict();
    short.buffers.exp_avg.pop();
    assert.throws(() => adam.loadStateDict(short), /buffer 'exp_avg' has 3 entries for 4 parameters/);
    const wrong = adam.stateDict();
    wrong.buffers.exp_avg_sq[2] = [1, 2];
    assert.throws(
      () => adam.loadStateDict(wrong),
      /buffer 'exp_avg_sq' of parameter 2 has 2 values, expected 8/,
    );
    assert.equal(JSON.stringify(adam.stateDict()), before);
  });
});

describe('optimizer basics', () => {
  test('zeroGrad zeroes every gradient in place', () => {
    const m = model(0);
    const opt = new optim.SGD(m.parameters(), { lr: 0.1 });
    losses.mse(m.forward(data.x), data.y).backward();
    const grads = m.parameters().map((p) => p.grad!);
    assert.ok(grads.every((g) => g.data.some((v) => v !== 0)));
    opt.zeroGrad();
    m.parameters().forEach((p, i) => {
      assert.equal(p.grad, grads[i]);
      assert.ok(p.grad!.data.every((v) => v === 0));
    });
  });

  test('parameters without a gradient are left alone', () => {
    const a = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const b = tensor([3], { dtype: 'float64', requiresGrad: true });
    b.grad = tensor([1], { dtype: 'float64' });
    const opt = new optim.Adam([a, b], { lr: 0.1 });
    opt.step();
    assert.deepEqual(Array.from(a.data), [1, 2]);
    assert.notEqual(b.data[0], 3);
  });

  test('a parameter that first gets a gradient later counts its own steps (bias correction, lr decay)', () => {
    const makers: Make[] = [
      (p) => new optim.Adam(p, { lr: 0.1 }),
      (p) => new optim.AdamW(p, { lr: 0.1, amsgrad: true }),
      (p) => new optim.Adagrad(p, { lr: 0.1, lrDecay: 0.5 }),
    ];
    for (const make of makers) {
      const a = tensor([1], { dtype: 'float64', requiresGrad: true });
      const b = tensor([2], { dtype: 'float64', requiresGrad: true });
      const o = make([a, b]);
      b.grad = tensor([0.5], { dtype: 'float64' });
      o.step(); // a has no gradient yet: PyTorch leaves its state alone
      a.grad = tensor([0.3], { dtype: 'float64' });
      o.step();
      assert.deepEqual(Array.from(a.data), run(make, 1, [0.3]), o.constructor.name);
      assert.deepEqual(Array.from(b.data), run(make, 2, [0.5, 0.5]).slice(1), o.constructor.name);
      const state = o.stateDict();
      assert.deepEqual([state.step, state.paramSteps], [2, [1, 2]]);
      const o2 = make([a, b]);
      assert.throws(
        () => o2.loadStateDict({ ...state, paramSteps: [1] }),
        /paramSteps should have 2 entries, got \[1\]/,
      );
    }
  });

  test('parameter validation', () => {
    const p = () => model(0).parameters();
    const cases: [() => unknown, RegExp][] = [
      [() => new optim.SGD(p(), { lr: -0.1 }), /SGD: lr must be a finite number ≥ 0, got -0\.1/],
      [() => new optim.SGD(p(), { lr: NaN }), /SGD: lr must be a finite number ≥ 0, got NaN/],
      [() => new optim.SGD(p(), { lr: 0.1, momentum: -0.5 }), /SGD: momentum must be/],
      [() => new optim.SGD(p(), { lr: 0.1, weightDecay: -1 }), /SGD: weightDecay must be/],
      [
        () => new optim.SGD(p(), { lr: 0.1, nesterov: true }),
        /SGD: nesterov needs momentum > 0 and dampening 0/,
      ],
      [
        () => new optim.SGD(p(), { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 }),
        /nesterov needs/,
      ],
      [() => new optim.Adam(p(), { lr: -1 }), /Adam: lr must be/],
      [() => new optim.Adam(p(), { betas: [1, 0.999] }), /Adam: betas\[0\] must be in \[0, 1\), got 1/],
      [() => new optim.Adam(p(), { betas: [0.9, -0.1] }), /Adam: betas\[1\] must be in \[0, 1\), got -0\.1/],
      [() => new optim.AdamW(p(), { betas: [0.9, 1.5] }), /AdamW: betas\[1\]/],
      [() => new optim.Adam(p(), { eps: -1 }), /Adam: eps must be/],
      [() => new optim.AdamW(p(), { weightDecay: -0.01 }), /AdamW: weightDecay must be/],
      [() => new optim.RMSprop(p(), { alpha: -0.9 }), /RMSprop: alpha must be/],
      [() => new optim.RMSprop(p(), { momentum: -1 }), /RMSprop: momentum must be/],
      [() => new optim.Adagrad(p(), { lrDecay: -1 }), /Adagrad: lrDecay must be/],
      [
        () => new optim.Adagrad(p(), { initialAccumulatorValue: -1 }),
        /Adagrad: initialAccumulatorValue must be/,
      ],
      [() => new optim.SGD([], { lr: 0.1 }), /SGD: got an empty parameter list/],
      [
        () => new optim.Adam([tensor([1], { requiresGrad: true }).mul(2)]),
        /Adam: parameter 0 is not a leaf tensor/,
      ],
    ];
    for (const [make, re] of cases) assert.throws(make, re);
  });

  test('defaults are PyTorch’s; AdamW decays weights by 0.01 unless told otherwise', () => {
    const p = model(0).parameters();
    const adam = new optim.Adam(p);
    assert.deepEqual(
      [adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weightDecay, adam.amsgrad],
      [1e-3, 0.9, 0.999, 1e-8, 0, false],
    );
    assert.equal(new optim.AdamW(p).weightDecay, 0.01);
    assert.equal(new optim.AdamW(p, { weightDecay: 0 }).weightDecay, 0);
    const rms = new optim.RMSprop(p);
    assert.deepEqual([rms.lr, rms.alpha, rms.eps, rms.momentum, rms.centered], [1e-2, 0.99, 1e-8, 0, false]);
    const ada = new optim.Adagrad(p);
    assert.deepEqual([ada.lr, ada.eps, ada.lrDecay, ada.initialAccumulatorValue], [1e-2, 1e-10, 0, 0]);
  });

  test('each optimizer hands its kernel one hyper-parameter object, its fields updated every step', () => {
    // No object per parameter per step (the seed network's fit runs millions of steps a second), and no
    // stale field: lr follows a change between steps, `first` is per step, bias corrections per step.
    const calls: { kernel: string; h: object; fields: Record<string, unknown> }[] = [];
    const record = (kernel: string, h: object) => calls.push({ kernel, h, fields: { ...h } });
    const base = kernels();
    const spy: Kernels = {
      ...base,
      // No promise to hand short arrays to the reference, so every update goes through the spy.
      referenceElementsBelow: undefined,
      sgd: (p, g, buf, h) => (record('sgd', h), base.sgd(p, g, buf, h)),
      adam: (p, g, m, v, vmax, h) => (record('adam', h), base.adam(p, g, m, v, vmax, h)),
      rmsprop: (p, g, sq, ga, buf, h) => (record('rmsprop', h), base.rmsprop(p, g, sq, ga, buf, h)),
      adagrad: (p, g, sum, h) => (record('adagrad', h), base.adagrad(p, g, sum, h)),
    };
    type Want = (lr: number, t: number) => Record<string, number | boolean>;
    const cases: [string, Make, Want][] = [
      [
        'sgd',
        (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }),
        (lr, t) => ({
          lr,
          momentum: 0.9,
          dampening: 0.1,
          weightDecay: 0.01,
          nesterov: false,
          first: t === 1,
        }),
      ],
      [
        'adam',
        (p) => new optim.Adam(p, { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }),
        (lr, t) => ({
          stepSize: lr / (1 - 0.8 ** t),
          beta1: 0.8,
          beta2: 0.99,
          bc2Sqrt: Math.sqrt(1 - 0.99 ** t),
          eps: 1e-6,
          weightDecay: 0.1,
          decay: 1,
        }),
      ],
      [
        'adam',
        (p) => new optim.AdamW(p, { lr: 0.01 }),
        (lr, t) => ({
          stepSize: lr / (1 - 0.9 ** t),
          beta1: 0.9,
          beta2: 0.999,
          bc2Sqrt: Math.sqrt(1 - 0.999 ** t),
          eps: 1e-8,
          weightDecay: 0,
          decay: 1 - lr * 0.01,
        }),
      ],
      [
        'rmsprop',
        (p) => new optim.RMSprop(p, { lr: 0.01, alpha: 0.9, momentum: 0.5, weightDecay: 0.1 }),
        (lr) => ({ lr, alpha: 0.9, eps: 1e-8, weightDecay: 0.1, momentum: 0.5 }),
      ],
      [
        'adagrad',
        (p) => new optim.Adagrad(p, { lr: 0.1, lrDecay: 0.5, eps: 1e-9, weightDecay: 0.1 }),
        (lr, t) => ({ clr: lr / (1 + (t - 1) * 0.5), eps: 1e-9, weightDecay: 0.1 }),
      ],
    ];
    const prev = setKernels(spy);
    try {
      for (const [kernel, make, want] of cases) {
        const m = model(0);
        const opt = make(m.parameters());
        const what = opt.constructor.name;
        const n = m.parameters().length;
        const lrs = [opt.lr, opt.lr / 2, opt.lr / 4];
        calls.length = 0;
        for (const lr of lrs) {
          opt.lr = lr;
          trainStep(m, opt);
        }
        assert.equal(calls.length, lrs.length * n, what);
        assert.ok(
          calls.every((c) => c.kernel === kernel && c.h === calls[0].h),
          `${what}: one object`,
        );
        calls.forEach(({ fields }, k) => {
          const step = Math.floor(k / n);
          const expected = want(lrs[step], step + 1);
          assert.deepEqual(Object.keys(fields).sort(), Object.keys(expected).sort(), `${what} call ${k}`);
          for (const [key, v] of Object.entries(expected))
            if (typeof v === 'boolean') assert.equal(fields[key], v, `${what} call ${k}: ${key}`);
            // The optimizers' bias corrections use libm's pow, which may differ from ** in the last bit.
            else assertClose([fields[key] as number], [v], { rel: 1e-12, what: `${what} call ${k}: ${key}` });
        });
      }
    } finally {
      setKernels(prev);
    }
  });
});

/** One scalar parameter stepped with the given gradients; its value after each step. */
function run(make: (p: Tensor[]) => optim.Optimizer, p0: number, grads: number[]): number[] {
  const p = tensor([p0], { dtype: 'float64', requiresGrad: true });
  const opt = make([p]);
  return grads.map((g) => {
    p.grad = tensor([g], { dtype: 'float64' });
    opt.step();
    return p.data[0];
  });
}

describe('single steps by hand (PyTorch documentation formulas)', () => {
  test('SGD with momentum and dampening: the first step skips dampening', () => {
    const got = run((p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, dampening: 0.5 }), 0, [1, 2, -1]);
    const b1 = 1;
    const b2 = 0.9 * b1 + 0.5 * 2;
    const b3 = 0.9 * b2 + 0.5 * -1;
    assertClose(got, [-0.1 * b1, -0.1 * b1 - 0.1 * b2, -0.1 * b1 - 0.1 * b2 - 0.1 * b3], {
      rel: 1e-15,
      abs: 1e-17,
      what: 'p',
    });
  });

  test('SGD nesterov with weight decay', () => {
    const got = run(
      (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1 }),
      1,
      [1, 2],
    );
    let p = 1;
    const g1 = 1 + 0.1 * p;
    const b1 = g1;
    p -= 0.1 * (g1 + 0.9 * b1);
    const p1 = p;
    const g2 = 2 + 0.1 * p;
    const b2 = 0.9 * b1 + g2;
    p -= 0.1 * (g2 + 0.9 * b2);
    assertClose(got, [p1, p], { rel: 1e-15, what: 'p' });
  });

  /** Adam, AdamW and AMSGrad from the algorithm in PyTorch's documentation. */
  function adamRef(
    p: number,
    grads: number[],
    o: { lr: number; wd: number; decoupled: boolean; amsgrad: boolean },
  ) {
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    let m = 0;
    let v = 0;
    let vmax = 0;
    return grads.map((g0, i) => {
      const t = i + 1;
      let g = g0;
      if (o.decoupled) p = p * (1 - o.lr * o.wd);
      else g = g + o.wd * p;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const mHat = m / (1 - b1 ** t);
      vmax = Math.max(vmax, v);
      const vHat = (o.amsgrad ? vmax : v) / (1 - b2 ** t);
      p = p - (o.lr * mHat) / (Math.sqrt(vHat) + eps);
      return p;
    });
  }

  test('Adam, with L2 weight decay', () => {
    const grads = [1, -0.5, 0.25, 2];
    const got = run((p) => new optim.Adam(p, { lr: 0.1, weightDecay: 0.1 }), 0.5, grads);
    assertClose(got, adamRef(0.5, grads, { lr: 0.1, wd: 0.1, decoupled: false, amsgrad: false }), {
      rel: 1e-13,
      what: 'Adam',
    });
  });

  test('AdamW: decoupled decay, 0.01 by default', () => {
    const grads = [1, -0.5, 0.25, 2];
    const got = run((p) => new optim.AdamW(p, { lr: 0.1 }), 0.5, grads);
    assertClose(got, adamRef(0.5, grads, { lr: 0.1, wd: 0.01, decoupled: true, amsgrad: false }), {
      rel: 1e-13,
      what: 'AdamW',
    });
    // With a zero gradient only the decay moves the parameter.
    assert.deepEqual(
      run((p) => new optim.AdamW(p), 2, [0]),
      [2 * (1 - 1e-3 * 0.01)],
    );
  });

  test('amsgrad differs from Adam once the second moment falls, and only then', () => {
    const falling = [1, 0, 0, 0.1];
    const ams = run((p) => new optim.Adam(p, { lr: 0.1, amsgrad: true }), 0, falling);
    const plain = run((p) => new optim.Adam(p, { lr: 0.1 }), 0, falling);
    assertClose(ams, adamRef(0, falling, { lr: 0.1, wd: 0, decoupled: false, amsgrad: true }), {
      rel: 1e-13,
      what: 'AMSGrad',
    });
    assert.equal(ams[0], plain[0]);
    assert.notEqual(ams[3], plain[3]);
    // Growing gradients keep v non-decreasing: max(v) is v, and the runs agree bit for bit.
    const rising = [0.5, 1, 2, 4];
    assert.deepEqual(
      run((p) => new optim.Adam(p, { lr: 0.1, amsgrad: true }), 0, rising),
      run((p) => new optim.Adam(p, { lr: 0.1 }), 0, rising),
    );
  });

  test('RMSprop centered with momentum and weight decay', () => {
    const [lr, alpha, eps, mu, wd] = [0.01, 0.9, 1e-8, 0.5, 0.1];
    const grads = [1, -0.5, 2];
    const got = run(
      (p) => new optim.RMSprop(p, { lr, alpha, eps, momentum: mu, centered: true, weightDecay: wd }),
      1,
      grads,
    );
    let [p, v, gAve, b] = [1, 0, 0, 0];
    const want = grads.map((g0) => {
      const g = g0 + wd * p;
      v = alpha * v + (1 - alpha) * g * g;
      gAve = alpha * gAve + (1 - alpha) * g;
      b = mu * b + g / (Math.sqrt(v - gAve * gAve) + eps);
      p = p - lr * b;
      return p;
    });
    assertClose(got, want, { rel: 1e-13, what: 'RMSprop' });
  });

  test('RMSprop plain: first step moves by lr/√(1 − α)', () => {
    const [got] = run((p) => new optim.RMSprop(p, { lr: 0.01, alpha: 0.99 }), 0, [3]);
    assertClose(got, -0.01 * (3 / (Math.sqrt(0.01 * 9) + 1e-8)), { rel: 1e-15, what: 'RMSprop' });
  });

  test('Adagrad: lr/(1 + (t − 1)·lrDecay) and the initial accumulator', () => {
    const [lr, lrDecay, init, eps] = [1, 0.1, 0.5, 1e-10];
    const grads = [2, 1, -3];
    const got = run(
      (p) => new optim.Adagrad(p, { lr, lrDecay, initialAccumulatorValue: init, eps }),
      0,
      grads,
    );
    let [p, sum] = [0, init];
    const want = grads.map((g, i) => {
      const clr = lr / (1 + i * lrDecay);
      sum += g * g;
      p -= (clr * g) / (Math.sqrt(sum) + eps);
      return p;
    });
    assertClose(got, want, { rel: 1e-14, what: 'Adagrad' });
    assertClose(got[0], -2 / Math.sqrt(4.5), { rel: 1e-10, what: 'Adagrad step 1' });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Schedulers

const opt = (lr = 0.1) => new optim.SGD([tensor([0], { requiresGrad: true })], { lr });

/** The learning rate after each of `n` epochs. */
function lrs(s: optim.LRScheduler, n: number, metrics?: number[]): number[] {
  return Array.from({ length: n }, (_, i) => {
    s.step(metrics?.[i]);
    return s.lr;
  });
}

describe('StepLR, ExponentialLR, CosineAnnealingLR', () => {
  test('StepLR multiplies by gamma every stepSize epochs', () => {
    const o = opt(1);
    const s = new optim.StepLR(o, { stepSize: 3, gamma: 0.1 });
    assert.equal(s.lr, 1);
    const got = lrs(s, 10);
    assertClose(
      got,
      Array.from({ length: 10 }, (_, i) => 0.1 ** Math.floor((i + 1) / 3)),
      { rel: 1e-15, what: 'StepLR' },
    );
    assert.equal(s.lastEpoch, 10);
    assert.equal(o.lr, got[9]);
    assert.throws(
      () => new optim.StepLR(opt(), { stepSize: 0 }),
      /StepLR: stepSize must be a positive integer, got 0/,
    );
    assert.deepEqual(
      lrs(new optim.StepLR(opt(0.8), { stepSize: 2 }), 4),
      [0.8, 0.08000000000000002, 0.08000000000000002, 0.008000000000000002],
    );
  });

  test('ExponentialLR multiplies by gamma every epoch', () => {
    const got = lrs(new optim.ExponentialLR(opt(0.5), { gamma: 0.9 }), 30);
    assertClose(
      got,
      Array.from({ length: 30 }, (_, i) => 0.5 * 0.9 ** (i + 1)),
      { rel: 1e-14, what: 'ExponentialLR' },
    );
  });

  const closedForm = (base: number, etaMin: number, T: number, t: number) =>
    etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / T))) / 2;

  for (const [base, etaMin, T] of [
    [0.1, 0.001, 10],
    [1, 0, 7],
    [0.05, 0.01, 1],
    [0.3, 0, 50],
  ]) {
    test(`CosineAnnealingLR base ${base}, etaMin ${etaMin}, T ${T}: the closed form`, () => {
      const got = lrs(new optim.CosineAnnealingLR(opt(base), { tMax: T, etaMin }), 3 * T);
      got.forEach((lr, i) => {
        const t = i + 1;
        const err = Math.abs(lr - closedForm(base, etaMin, T, t));
        assert.ok(err <= (t <= T ? 1e-12 : 1e-9), `t = ${t}: ${lr} vs ${closedForm(base, etaMin, T, t)}`);
      });
      assert.ok(Math.abs(got[T - 1] - etaMin) < 1e-12, 'reaches etaMin at T');
      assert.ok(Math.abs(got[2 * T - 1] - base) < 1e-9, 'back at the base at 2T');
    });
  }

  test('CosineAnnealingLR rejects a bad tMax', () => {
    assert.throws(
      () => new optim.CosineAnnealingLR(opt(), { tMax: 0 }),
      /tMax must be a positive integer, got 0/,
    );
  });
});

describe('ReduceLROnPlateau', () => {
  test('cuts by factor after more than `patience` bad epochs, then counts afresh', () => {
    const s = new optim.ReduceLROnPlateau(opt(0.1), { patience: 2, factor: 0.5 });
    const got = lrs(s, 8, [1, 1, 1, 1, 1, 1, 1, 0.5]);
    assert.deepEqual(got, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]);
    assert.equal(s.best, 0.5);
    assert.equal(s.numBadEpochs, 0);
  });

  test('an improvement resets the count', () => {
    const got = lrs(new optim.ReduceLROnPlateau(opt(1), { patience: 1 }), 6, [5, 5, 4, 4, 4, 4]);
    assert.deepEqual(got, [1, 1, 1, 1, 0.1, 0.1]);
  });

  test("threshold 'rel': better means below best·(1 − threshold)", () => {
    // best 1, threshold 0.1: 0.95 is not an improvement, 0.89 is.
    const s = new optim.ReduceLROnPlateau(opt(1), { patience: 0, threshold: 0.1 });
    assert.deepEqual(lrs(s, 3, [1, 0.89, 0.85]), [1, 1, 0.1]);
    assert.equal(s.best, 0.89);
    assert.deepEqual(
      lrs(new optim.ReduceLROnPlateau(opt(1), { patience: 0, threshold: 0.1 }), 2, [1, 0.95]),
      [1, 0.1],
    );
  });

  test("threshold 'abs': better means below best − threshold", () => {
    const s = new optim.ReduceLROnPlateau(opt(1), { patience: 0, threshold: 0.1, thresholdMode: 'abs' });
    assert.deepEqual(lrs(s, 5, [10, 9.85, 9.95, 9.7, 9.65]), [1, 1, 0.1, 0.1, 0.010000000000000002]);
    assert.equal(s.best, 9.7);
  });

  test("mode 'max' with both threshold modes", () => {
    const rel = new optim.ReduceLROnPlateau(opt(1), { mode: 'max', patience: 0, threshold: 0.1 });
    assert.deepEqual(lrs(rel, 4, [1, 1.2, 1.25, 1.4]), [1, 1, 0.1, 0.1]);
    const abs = new optim.ReduceLROnPlateau(opt(1), {
      mode: 'max',
      patience: 1,
      threshold: 0.5,
      thresholdMode: 'abs',
    });
    assert.deepEqual(lrs(abs, 5, [1, 1.4, 1.6, 1.7, 1.8]), [1, 1, 1, 1, 0.1]);
  });

  test('cooldown ignores bad epochs after a cut', () => {
    const s = new optim.ReduceLROnPlateau(opt(1), { patience: 0, cooldown: 2 });
    assert.deepEqual(
      lrs(s, 6, [1, 2, 2, 2, 2, 2]),
      [1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002],
    );
  });

  test('minLr bounds the rate; a cut smaller than eps is skipped', () => {
    const s = new optim.ReduceLROnPlateau(opt(0.1), { patience: 0, minLr: 0.005 });
    assert.deepEqual(lrs(s, 5, [1, 1, 1, 1, 1]), [0.1, 0.010000000000000002, 0.005, 0.005, 0.005]);
    const e = new optim.ReduceLROnPlateau(opt(1e-8), { patience: 0, factor: 0.5, eps: 1e-8 });
    assert.deepEqual(lrs(e, 3, [1, 1, 1]), [1e-8, 1e-8, 1e-8]);
    const e2 = new optim.ReduceLROnPlateau(opt(1e-8), { patience: 0, factor: 0.5, eps: 1e-9 });
    assert.deepEqual(lrs(e2, 3, [1, 1, 1]), [1e-8, 5e-9, 2.5e-9]);
  });

  test('errors', () => {
    assert.throws(
      () => new optim.ReduceLROnPlateau(opt(), { factor: 1 }),
      /factor must be in \[0, 1\), got 1/,
    );
    assert.throws(() => new optim.ReduceLROnPlateau(opt()).step(), /pass the monitored metric/);
  });
});

describe('scheduler checkpoints', () => {
  const makers: [string, (o: optim.Optimizer) => optim.LRScheduler, number[]][] = [
    ['StepLR', (o) => new optim.StepLR(o, { stepSize: 2, gamma: 0.5 }), []],
    ['ExponentialLR', (o) => new optim.ExponentialLR(o, { gamma: 0.8 }), []],
    ['CosineAnnealingLR', (o) => new optim.CosineAnnealingLR(o, { tMax: 3, etaMin: 0.01 }), []],
    [
      'ReduceLROnPlateau',
      (o) => new optim.ReduceLROnPlateau(o, { patience: 1, cooldown: 1 }),
      [3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ],
  ];
  for (const [name, make, metrics] of makers)
    for (const at of [0, 2, 5])
      test(`${name} saved after ${at} epochs resumes exactly (through JSON)`, () => {
        const m = metrics.length ? metrics : undefined;
        const oa = opt(0.2);
        const a = make(oa);
        lrs(a, at, m);
        const saved = JSON.stringify({ opt: oa.stateDict(), sched: a.stateDict() });
        const rest = m?.slice(at);
        const want = lrs(a, 10, rest);

        // Scheduler made before the optimizer's state is loaded, and after (its base rate comes from the state).
        for (const order of ['before', 'after'] as const) {
          const ob = opt(0.2);
          const { opt: os, sched: ss } = JSON.parse(saved) as {
            opt: optim.OptimizerState;
            sched: optim.SchedulerState;
          };
          let b: optim.LRScheduler;
          if (order === 'before') {
            b = make(ob);
            ob.loadStateDict(os);
          } else {
            ob.loadStateDict(os);
            b = make(ob);
          }
          b.loadStateDict(ss);
          assert.equal(b.lastEpoch, at);
          assert.deepEqual(lrs(b, 10, rest), want, order);
        }
      });
});
