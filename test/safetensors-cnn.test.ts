// A PyTorch CNN's state dict in safetensors, as `safetensors.torch.save_file(model.state_dict(), …)` lays it
// out (PyTorch's names; Conv weights [out, in/groups, kh, kw], Linear [out, in]; BatchNorm's running
// statistics; num_batches_tracked an I64 scalar), written here byte by byte from the small CNN of
// model-trajectories.json. It imports (with the architecture as a spec, which a CNN's tensors cannot give)
// and gives PyTorch's loss, trains to PyTorch's final state, and exports back to the same bytes. The
// command line does the same with --arch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { main } from '../cli/main.js';
import type { IO } from '../cli/io.js';
import {
  fromSafetensors,
  loadSafetensors,
  losses,
  modelFromJSON,
  nn,
  noGrad,
  optim,
  parseSafetensors,
  tensor,
  toSafetensors,
  type DType,
  type ModelSpec,
  type Tensor,
} from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { fixture, flat } from './helpers/fixtures.js';

type Nested = number | Nested[];
interface TrajectoryCase {
  name: string;
  x: Nested;
  y: number[];
  initialState: Record<string, Nested>;
  losses: number[];
  finalState: Record<string, Nested>;
}
const c = fixture<{ cases: TrajectoryCase[] }>('model-trajectories.json').cases[0];

/** The fixture's `Sequential(Conv2d(1,4,3,padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2), Conv2d(4,6,3), ReLU(), Flatten(), Linear(24,3))`. */
const SPEC: ModelSpec = {
  type: 'sequential',
  layers: [
    { type: 'conv2d', in: 1, out: 4, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1, bias: true },
    { type: 'batchNorm2d', features: 4, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true },
    { type: 'relu' },
    { type: 'maxPool2d', kernel: 2, stride: 2, padding: 0, dilation: 1, ceilMode: false },
    { type: 'conv2d', in: 4, out: 6, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1, bias: true },
    { type: 'relu' },
    { type: 'flatten' },
    { type: 'linear', in: 24, out: 3, bias: true },
  ],
};

/** The shape of a nested array. */
function shapeOf(v: Nested): number[] {
  const shape: number[] = [];
  for (let a: Nested = v; Array.isArray(a); a = a[0]) shape.push(a.length);
  return shape;
}

/**
 * A state dict as the safetensors format lays it out (written here independently of src/io): an 8-byte
 * little-endian header length, the JSON header (`__metadata__` {format: pt} first, then the tensors by
 * name, their data in the same order), spaces to an 8-byte boundary, the little-endian data. Float tensors
 * as F64 or F32; num_batches_tracked as I64 of shape [], PyTorch's.
 */
function torchFile(state: Record<string, Nested>, float: 'F64' | 'F32'): Uint8Array {
  const names = Object.keys(state).sort();
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const v = state[name];
    let bytes: Uint8Array;
    let dtype: string;
    if (name.endsWith('num_batches_tracked')) {
      dtype = 'I64';
      bytes = new Uint8Array(BigInt64Array.of(BigInt(v as number)).buffer);
    } else {
      dtype = float;
      const values = flat(v);
      bytes = new Uint8Array(
        (float === 'F64' ? Float64Array.from(values) : Float32Array.from(values)).buffer,
      );
    }
    header[name] = { dtype, shape: shapeOf(v), data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const size = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + size + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(size), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + size);
  let at = 8 + size;
  for (const b of chunks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const x = (dtype: DType) => tensor(flat(c.x), { dtype, shape: shapeOf(c.x) });

/** PyTorch's training-mode cross-entropy of the fixture's batch. */
function loss(model: nn.Sequential, dtype: DType): Tensor {
  return losses.crossEntropy(model.train().forward(x(dtype)), c.y);
}

describe('safetensors: a PyTorch CNN state dict (model-trajectories.json)', () => {
  test('imports with its spec, gives PyTorch’s loss, and trains to PyTorch’s final state', () => {
    const model = fromSafetensors(torchFile(c.initialState, 'F64'), { spec: SPEC });
    assert.equal(model.parameters()[0].dtype, 'float64', 'every float tensor F64 → a float64 model');
    assert.equal(model.training, false, 'imported in evaluation mode');
    const bn = model.layers[1] as nn.BatchNorm2d;
    assert.equal(bn.num_batches_tracked!.item(), 0);
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    for (let step = 0; step < 3; step++) {
      opt.zeroGrad();
      const l = loss(model, 'float64');
      // Batch statistics in training mode: the whole forward pass, running statistics updated.
      assertClose(l.item(), c.losses[step], { rel: 1e-10, what: `loss at step ${step + 1}` });
      l.backward();
      opt.step();
    }
    // Back out through the exporter and compare with PyTorch's final state under its own names and layouts.
    const back = parseSafetensors(toSafetensors(model));
    const want = parseSafetensors(torchFile(c.finalState, 'F64'));
    assert.deepEqual([...back.tensors.keys()], [...want.tensors.keys()]);
    for (const [name, t] of want.tensors) {
      const got = back.tensors.get(name)!;
      assert.equal(got.dtype, t.dtype, name);
      assert.deepEqual(got.shape, t.shape, name);
      if (t.dtype === 'I64') {
        assert.deepEqual([...got.data], [...t.data], name);
        continue;
      }
      // As test/layers.test.ts: the first conv's bias (and the running mean it feeds) moves by rounding
      // noise only, which Adam scales up to ~1e-9.
      const abs = name === '0.bias' || name === '1.running_mean' ? 3e-9 : 1e-15;
      const f64 = (d: Uint8Array) => new Float64Array(d.slice().buffer);
      assertClose(f64(got.data), f64(t.data), { rel: 1e-10, abs, what: name });
    }
  });

  test('exports back to the bytes PyTorch’s state dict makes, and imports them bit for bit', () => {
    const file = torchFile(c.finalState, 'F64');
    const model = fromSafetensors(file, { spec: SPEC });
    assert.equal((model.layers[1] as nn.BatchNorm2d).num_batches_tracked!.item(), 3);
    assert.deepEqual(toSafetensors(model), file);
    const parsed = parseSafetensors(toSafetensors(model));
    assert.deepEqual(parsed.tensors.get('1.num_batches_tracked')!.shape, []);
    assert.equal(parsed.tensors.get('1.num_batches_tracked')!.dtype, 'I64');
    assert.deepEqual(parsed.tensors.get('0.weight')!.shape, [4, 1, 3, 3]);
    assert.deepEqual(parsed.tensors.get('7.weight')!.shape, [3, 24], 'Linear [out, in]');
  });

  test('evaluation mode uses the imported running statistics: the same outputs as a state-dict load', () => {
    const imported = fromSafetensors(torchFile(c.finalState, 'F64'), { spec: SPEC });
    const direct = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1, dtype: 'float64' }),
      new nn.BatchNorm2d(4, { dtype: 'float64' }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(4, 6, 3, { dtype: 'float64' }),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.Linear(24, 3, { dtype: 'float64' }),
    );
    const own = new Map(direct.namedTensors());
    const state: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(c.finalState)) {
      const t =
        k === '7.weight'
          ? tensor(v as number[][], { dtype: 'float64' }).T
          : tensor(typeof v === 'number' ? [v] : flat(v), { dtype: 'float64' });
      state[k] = tensor(t.data, { dtype: 'float64', shape: own.get(k)!.shape });
    }
    direct.loadStateDict(state);
    const a = noGrad(() => imported.eval().forward(x('float64')));
    const b = noGrad(() => direct.eval().forward(x('float64')));
    assert.deepEqual(a.data, b.data);
    // The running statistics matter: training mode (batch statistics) gives other outputs.
    const t = noGrad(() => imported.train().forward(x('float64')));
    assert.notDeepEqual(t.data, a.data);
  });

  test('PyTorch’s default float32 file gives a float32 model (the I64 counter does not count as a dtype)', () => {
    const model = fromSafetensors(torchFile(c.initialState, 'F32'), { spec: SPEC });
    assert.equal(model.parameters()[0].dtype, 'float32');
    // float32 weights (rounded from the fixture's float64) and arithmetic: the loss within float32's reach.
    assertClose(loss(model, 'float32').item(), c.losses[0], { rel: 1e-5, what: 'float32 loss' });
    assert.deepEqual(
      toSafetensors(fromSafetensors(torchFile(c.finalState, 'F32'), { spec: SPEC })),
      torchFile(c.finalState, 'F32'),
    );
  });

  test('a counter saved as a float (an older export) loads; a bad counter or a CNN without spec is refused', () => {
    const model = fromSafetensors(torchFile(c.finalState, 'F64'), { spec: SPEC });
    const asFloat = parseSafetensors(torchFile(c.finalState, 'F64'));
    asFloat.tensors.set('1.num_batches_tracked', {
      dtype: 'F64',
      shape: [],
      data: new Uint8Array(Float64Array.of(3).buffer),
    });
    loadSafetensors(model, asFloat);
    assert.equal((model.layers[1] as nn.BatchNorm2d).num_batches_tracked!.item(), 3);

    asFloat.tensors.set('1.num_batches_tracked', {
      dtype: 'F64',
      shape: [],
      data: new Uint8Array(Float64Array.of(2.5).buffer),
    });
    assert.throws(
      () => loadSafetensors(model, asFloat, { source: 'w.safetensors' }),
      /w\.safetensors: tensor '1\.num_batches_tracked' \(a batch counter\) must hold a whole number/,
    );
    asFloat.tensors.set('1.num_batches_tracked', {
      dtype: 'I64',
      shape: [],
      data: new Uint8Array(BigInt64Array.of(2n ** 60n).buffer),
    });
    assert.throws(() => loadSafetensors(model, asFloat), /beyond 2\^53/);
    // Integers only where PyTorch keeps them: a weight in I64 is refused.
    const intWeight = parseSafetensors(torchFile(c.finalState, 'F64'));
    intWeight.tensors.set('1.weight', { dtype: 'I64', shape: [4], data: new Uint8Array(32) });
    assert.throws(
      () => loadSafetensors(model, intWeight),
      /tensor '1\.weight' has dtype I64; chainrule loads float tensors/,
    );
    // A convolution's weight of the wrong shape names the tensor and both shapes.
    const wrong = parseSafetensors(torchFile(c.finalState, 'F64'));
    wrong.tensors.set('4.weight', { ...wrong.tensors.get('4.weight')!, shape: [6, 4, 9] });
    assert.throws(
      () => loadSafetensors(model, wrong),
      /tensor '4\.weight' has shape \[6, 4, 9\], but the model expects \[6, 4, 3, 3\]/,
    );
    assert.throws(
      () => fromSafetensors(torchFile(c.finalState, 'F64'), { source: 'cnn.safetensors' }),
      /cnn\.safetensors: cannot infer the architecture: tensor '0\.weight' \(F64 \[4, 1, 3, 3\]\) belongs to a convolution.*pass the architecture/,
    );
  });
});

describe('chainrule import --arch and export --safetensors: a PyTorch CNN', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-cnnio-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io: IO = {
      out: (t) => void (out += t),
      err: (t) => void (err += t),
      isTTY: false,
      columns: 100,
      cwd: dir,
    };
    const code = await main(argv, io);
    return { code, out, err };
  }

  test('imports with the spec file, keeps every value, and exports what PyTorch loads', async () => {
    writeFileSync(join(dir, 'cnn.safetensors'), torchFile(c.finalState, 'F64'));
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(SPEC));
    const imported = await run('import', 'cnn.safetensors', '--arch', 'spec.json', '--out', 'cnn.json');
    assert.equal(imported.code, 0, imported.err);
    assert.match(imported.out, /architecture from spec\.json/);
    const { model } = modelFromJSON(readFileSync(join(dir, 'cnn.json'), 'utf8'), 'cnn.json');
    assert.equal((model.layers[1] as nn.BatchNorm2d).num_batches_tracked!.item(), 3);

    const exported = await run('export', 'cnn.json', '--safetensors', 'back.safetensors');
    assert.equal(exported.code, 0, exported.err);
    assert.match(exported.out, /num_batches_tracked I64/);
    assert.match(exported.out, /nn\.Conv2d\(1, 4, 3, stride=1, padding=1/);
    const back = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'back.safetensors'))));
    const want = parseSafetensors(torchFile(c.finalState, 'F64'));
    assert.deepEqual([...back.tensors.keys()], [...want.tensors.keys()]);
    for (const [name, t] of want.tensors) assert.deepEqual(back.tensors.get(name), t, name);
    // The file records the architecture, so it imports again without --arch.
    const again = await run('import', 'back.safetensors', '--out', 'again.json');
    assert.equal(again.code, 0, again.err);
  });

  test('imported as float32, the CNN exports to ONNX and onnxruntime gives its outputs', async () => {
    writeFileSync(join(dir, 'cnn.safetensors'), torchFile(c.finalState, 'F64'));
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(SPEC));
    const r64 = await run('import', 'cnn.safetensors', '--arch', 'spec.json', '--out', 'cnn64.json');
    assert.equal(r64.code, 0, r64.err);
    const note = await run('export', 'cnn64.json', '--onnx', 'cnn64.onnx');
    assert.equal(note.code, 0, note.err);
    assert.match(note.out, /note: onnxruntime \(1\.30\) has no float64 kernel for conv2d/);
    const r = await run(
      'import',
      'cnn.safetensors',
      '--arch',
      'spec.json',
      '--dtype',
      'float32',
      '--out',
      'cnn32.json',
    );
    assert.equal(r.code, 0, r.err);
    const e = await run('export', 'cnn32.json', '--onnx', 'cnn32.onnx');
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /input +float32 +\[batch, 1, height, width\]/);
    const session = await ort.InferenceSession.create(readFileSync(join(dir, 'cnn32.onnx')));
    const x32 = x('float32');
    const out = await session.run({ input: new ort.Tensor('float32', x32.data, [...x32.shape]) });
    // Against the float64 model in evaluation mode: float32 weights and arithmetic, within 1e-5.
    const { model } = modelFromJSON(readFileSync(join(dir, 'cnn64.json'), 'utf8'), 'cnn64.json');
    const want = noGrad(() => model.eval().forward(x('float64')));
    const scale = Math.max(...Array.from(want.data, Math.abs));
    assertClose(out.output.data as Float32Array, want.data, {
      rel: 1e-5,
      abs: 1e-6 * scale,
      what: 'ONNX CNN',
    });
  });

  test('a CNN without --arch, or a bad spec file, exits 2 naming the file and what is needed', async () => {
    writeFileSync(join(dir, 'cnn.safetensors'), torchFile(c.finalState, 'F64'));
    const none = await run('import', 'cnn.safetensors', '--out', 'x.json');
    assert.equal(none.code, 2);
    assert.match(none.err, /cnn\.safetensors: cannot infer the architecture: .*convolution/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...SPEC, layers: SPEC.layers.slice(0, 2) }));
    const bad = await run('import', 'cnn.safetensors', '--arch', 'bad.json', '--out', 'x.json');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unexpected .*'4\.weight'/);
    writeFileSync(join(dir, 'notjson.json'), '{ nope');
    const notJson = await run('import', 'cnn.safetensors', '--arch', 'notjson.json', '--out', 'x.json');
    assert.equal(notJson.code, 2);
    assert.match(notJson.err, /notjson\.json: not valid JSON/);
    const both = await run(
      'import',
      'cnn.safetensors',
      '--arch',
      'bad.json',
      '--layers',
      '4',
      '--out',
      'x.json',
    );
    assert.equal(both.code, 2);
    assert.match(both.err, /--arch gives the whole architecture/);
  });
});
