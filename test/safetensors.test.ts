// safetensors with PyTorch's names and layouts: the fixture written by PyTorch loads and reproduces
// PyTorch's outputs (float64 within 1e-12, float32 within 1e-5), writing and reading back is bit-identical,
// and every malformed file is refused with a message naming the tensor.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeSafetensors,
  fromSafetensors,
  loadSafetensors,
  SAFETENSORS_MAX_HEADER_SIZE,
  parseSafetensors,
  SafetensorsError,
  toSafetensors,
} from '../src/io/safetensors.js';
import { ModelFileError } from '../src/io/modelfile.js';
import {
  nn,
  noGrad,
  random,
  softmax,
  tensor,
  toSpec,
  type DType,
  type ModelSpec,
  type Tensor,
} from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { fixture, fixtureBytes, flat } from './helpers/fixtures.js';

interface TorchMlp {
  layers: (string | number)[][];
  keys: string[];
  inputs: number[][];
  logits: number[][];
  probabilities: number[][];
}

const torch = fixture<TorchMlp>('torch-mlp.json');
const torchBytes = fixtureBytes('torch-mlp.safetensors');

/** The fixture's architecture: nn.Sequential(Linear(4,16), ReLU, Linear(16,8), Tanh, Linear(8,3)). */
const torchSpec: ModelSpec = {
  type: 'sequential',
  layers: [
    { type: 'linear', in: 4, out: 16, bias: true },
    { type: 'relu' },
    { type: 'linear', in: 16, out: 8, bias: true },
    { type: 'tanh' },
    { type: 'linear', in: 8, out: 3, bias: true },
  ],
};

function run(model: nn.Module, xs: number[][], dtype: DType): Tensor {
  return noGrad(() => model.eval().forward(tensor(xs, { dtype })));
}

/** The bytes of a file with a hand-written header (and `data` after it), for malformed cases. */
function file(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe("PyTorch's torch-mlp.safetensors", () => {
  test('the fixture describes the architecture this test builds', () => {
    assert.deepEqual(torch.layers, [
      ['Linear', 4, 16],
      ['ReLU'],
      ['Linear', 16, 8],
      ['Tanh'],
      ['Linear', 8, 3],
    ]);
    assert.deepEqual([...parseSafetensors(torchBytes).tensors.keys()].sort(), [...torch.keys].sort());
  });

  test('a float64 model reproduces PyTorch’s outputs within 1e-12 relative', () => {
    const model = fromSafetensors(torchBytes, { spec: torchSpec, dtype: 'float64' });
    const logits = run(model, torch.inputs, 'float64');
    assertClose(logits.data, flat(torch.logits), { rel: 1e-12, what: 'logits' });
    assertClose(softmax(logits).data, flat(torch.probabilities), { rel: 1e-12, what: 'probabilities' });
  });

  test('a float32 model reproduces them within 1e-5 relative', () => {
    const model = fromSafetensors(torchBytes, { spec: torchSpec, dtype: 'float32' });
    assert.equal(model.parameters()[0].dtype, 'float32');
    assertClose(run(model, torch.inputs, 'float32').data, flat(torch.logits), { rel: 1e-5, what: 'logits' });
  });

  test('the architecture can be inferred from the tensors, with one activation per hidden layer', () => {
    const model = fromSafetensors(torchBytes, {
      activation: ['relu', 'tanh'],
      layers: [16, 8],
      dtype: 'float64',
    });
    assert.deepEqual(toSpec(model), torchSpec);
    assertClose(run(model, torch.inputs, 'float64').data, flat(torch.logits), {
      rel: 1e-12,
      what: 'inferred',
    });
    // The file is F32, so the default model is float32.
    assert.equal(
      fromSafetensors(torchBytes, { activation: ['relu', 'tanh'] }).parameters()[0].dtype,
      'float32',
    );
  });

  test('its weights are [out, in] in the file and [in, out] in the model', () => {
    const parsed = parseSafetensors(torchBytes);
    const w = parsed.tensors.get('0.weight')!;
    assert.deepEqual(w.shape, [16, 4]);
    const values = new Float32Array(w.data.slice().buffer);
    const model = fromSafetensors(torchBytes, { spec: torchSpec });
    const ours = (model.layers[0] as nn.Linear).weight;
    assert.deepEqual(ours.shape, [4, 16]);
    // File element [o, i] is model element [i, o].
    for (const [o, i] of [
      [0, 0],
      [3, 1],
      [15, 3],
    ])
      assert.equal(ours.data[i * 16 + o], values[o * 4 + i]);
    assert.deepEqual(parsed.metadata.format, 'pt');
  });

  test('written back, every tensor has the bytes PyTorch wrote', () => {
    const model = fromSafetensors(torchBytes, { spec: torchSpec, dtype: 'float32' });
    const ours = parseSafetensors(toSafetensors(model));
    const theirs = parseSafetensors(torchBytes);
    for (const [name, t] of theirs.tensors) {
      const mine = ours.tensors.get(name)!;
      assert.equal(mine.dtype, t.dtype, name);
      assert.deepEqual(mine.shape, t.shape, name);
      assert.deepEqual(mine.data, t.data, name);
    }
  });
});

describe('toSafetensors', () => {
  for (const dtype of ['float32', 'float64'] as DType[])
    test(`writes and reads back bit-identically (${dtype})`, () => {
      const rng = new random.RandomState(9);
      const make = () =>
        new nn.Sequential(
          new nn.Linear(5, 7, { dtype, rng }),
          new nn.GELU(),
          new nn.Linear(7, 3, { dtype, rng, bias: false }),
        );
      const a = make();
      const bytes = toSafetensors(a);
      const b = make(); // different random weights
      loadSafetensors(b, bytes);
      for (const [name, t] of a.namedTensors()) {
        const u = b.namedTensors().find(([n]) => n === name)![1];
        assert.deepEqual(
          new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength),
          new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
          name,
        );
      }
      assert.deepEqual(toSafetensors(b), bytes);
      const parsed = parseSafetensors(bytes);
      assert.equal(parsed.tensors.get('0.weight')!.dtype, dtype === 'float64' ? 'F64' : 'F32');
      assert.deepEqual(parsed.tensors.get('0.weight')!.shape, [7, 5]);
      assert.deepEqual(parsed.tensors.get('2.weight')!.shape, [3, 7]);
    });

  test('the layout: u64 little-endian header length, sorted header padded to 8 bytes, metadata', () => {
    const model = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 1));
    const bytes = toSafetensors(model, { metadata: { note: 'hi' } });
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const n = view.getUint32(0, true);
    assert.equal(view.getUint32(4, true), 0);
    assert.equal((8 + n) % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(header), ['__metadata__', '0.bias', '0.weight', '2.bias', '2.weight']);
    assert.deepEqual(header.__metadata__, { format: 'pt', note: 'hi' });
    assert.deepEqual(header['0.bias'], { dtype: 'F32', shape: [3], data_offsets: [0, 12] });
    assert.deepEqual(header['0.weight'], { dtype: 'F32', shape: [3, 2], data_offsets: [12, 36] });
    assert.equal(bytes.length, 8 + n + (3 + 6 + 1 + 3) * 4);
  });

  test('encodeSafetensors checks its tensors', () => {
    assert.throws(
      () => encodeSafetensors({ x: { shape: [2, 2], data: new Float32Array(3) } }),
      /'x' has 3 values/,
    );
  });
});

describe('loadSafetensors and fromSafetensors refuse bad files, naming the tensor', () => {
  const model = () => new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 1));
  const good = toSafetensors(model());

  test('structure: length, header, offsets, sizes, dtypes', () => {
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, 5), /too short/],
      [good.subarray(0, 40), /runs past the end of the file/],
      [good.subarray(0, good.length - 4), /run past the data's|cover/],
      [file('[1, 2]'), /does not start with '\{'/],
      [file('{"a": '), /not valid UTF-8 JSON/],
      [
        file({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
        /tensor 'x': .*hold 4 bytes, but shape \[2\] of F32 needs 8/,
      ],
      [
        file({ x: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
        /tensor 'x': unknown dtype "Q8"/,
      ],
      [
        file({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
        /tensor 'x': shape must be/,
      ],
      [
        file({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)),
        /tensor 'x': data_offsets must be/,
      ],
      [
        file(
          {
            x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
            y: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
          },
          new Uint8Array(12),
        ),
        /tensor 'y': its data starts at 8, but the previous tensor ends at 4 \(a gap\)/,
      ],
      [
        file(
          {
            x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          },
          new Uint8Array(8),
        ),
        /overlaps/,
      ],
      [
        file({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)),
        /cover 4 bytes of data, but the file has 8/,
      ],
      [file({ __metadata__: { a: 1 } }), /__metadata__\.a: expected a string/],
    ];
    for (const [bytes, message] of cases)
      assert.throws(
        () => parseSafetensors(bytes, 'w.safetensors'),
        (e: Error) =>
          e instanceof SafetensorsError &&
          e instanceof ModelFileError &&
          /^w\.safetensors: /.test(e.message) &&
          message.test(e.message),
        String(message),
      );
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setUint32(0, SAFETENSORS_MAX_HEADER_SIZE + 1, true);
    assert.throws(() => parseSafetensors(huge), /over the limit/);
    new DataView(huge.buffer).setUint32(4, 1, true);
    assert.throws(() => parseSafetensors(huge), /over the limit/);
  });

  test('names, shapes and dtypes that do not fit the model; a failed load changes nothing', () => {
    const m = model();
    const before = toSafetensors(m);
    const other = toSafetensors(new nn.Sequential(new nn.Linear(2, 4), new nn.ReLU(), new nn.Linear(4, 1)));
    assert.throws(
      () => loadSafetensors(m, other, { source: 'w.st' }),
      /w\.st: tensor '0\.weight' has shape \[4, 2\], but the model expects \[3, 2\]/,
    );
    const renamed = toSafetensors(new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(3, 1)));
    assert.throws(
      () => loadSafetensors(m, renamed),
      /missing '2\.weight', '2\.bias'; unexpected '1\.bias', '1\.weight'/,
    );
    const transposedWrong = encodeSafetensors({
      '0.weight': { shape: [2, 3], data: new Float32Array(6) },
      '0.bias': { shape: [3], data: new Float32Array(3) },
      '2.weight': { shape: [1, 3], data: new Float32Array(3) },
      '2.bias': { shape: [1], data: new Float32Array(1) },
    });
    assert.throws(
      () => loadSafetensors(m, transposedWrong),
      /tensor '0\.weight' has shape \[2, 3\], but the model expects \[3, 2\] \(a Linear\(2 → 3\) weight, stored \[out, in\]\)/,
    );
    const ints = file(
      {
        '0.weight': { dtype: 'I32', shape: [3, 2], data_offsets: [0, 24] },
        '0.bias': { dtype: 'F32', shape: [3], data_offsets: [24, 36] },
        '2.weight': { dtype: 'F32', shape: [1, 3], data_offsets: [36, 48] },
        '2.bias': { dtype: 'F32', shape: [1], data_offsets: [48, 52] },
      },
      new Uint8Array(52),
    );
    assert.throws(
      () => loadSafetensors(m, ints),
      /tensor '0\.weight' has dtype I32; chainrule loads float tensors/,
    );
    assert.deepEqual(toSafetensors(m), before);
  });

  test('inferring the architecture: sizes checked, gaps refused', () => {
    assert.throws(
      () => fromSafetensors(torchBytes, { layers: [16, 4] }),
      /hidden sizes were given as 16,4, but the tensors have 16,8 \(layers 4 → 16 → 8 → 3\)/,
    );
    assert.throws(
      () => fromSafetensors(torchBytes, { activation: ['relu', 'tanh', 'relu'] }),
      /3 activations given for 2 hidden layers/,
    );
    assert.throws(
      () => fromSafetensors(torchBytes, { activation: 'swish' as 'relu' }),
      /unknown activation "swish"/,
    );
    const gap = encodeSafetensors({
      '0.weight': { shape: [3, 2], data: new Float32Array(6) },
      '3.weight': { shape: [1, 3], data: new Float32Array(3) },
    });
    assert.throws(() => fromSafetensors(gap), /'0\.weight' and '3\.weight' have 2 modules between them/);
    const nested = encodeSafetensors({ 'encoder.0.weight': { shape: [3, 2], data: new Float32Array(6) } });
    assert.throws(() => fromSafetensors(nested), /tensor 'encoder\.0\.weight' is not a '<index>\.weight'/);
    const chain = encodeSafetensors({
      '0.weight': { shape: [3, 2], data: new Float32Array(6) },
      '2.weight': { shape: [1, 4], data: new Float32Array(4) },
    });
    assert.throws(
      () => fromSafetensors(chain),
      /tensor '2\.weight' has shape \[1, 4\]: it takes 4 inputs, but the layer before gives 3/,
    );
    // Without biases and all F64: a float64 model with bias-free layers.
    const f64 = encodeSafetensors({
      '0.weight': { shape: [3, 2], data: new Float64Array(6).fill(0.5) },
      '2.weight': { shape: [1, 3], data: new Float64Array(3).fill(2) },
    });
    const m = fromSafetensors(f64, { activation: 'sigmoid' });
    assert.equal(m.parameters()[0].dtype, 'float64');
    assert.equal((m.layers[0] as nn.Linear).bias, null);
    assert.ok(m.layers[1] instanceof nn.Sigmoid);
  });

  test('F16 and BF16 tensors load into float models', () => {
    // 1.5 is 0x3e00 in half precision and 0x3fc0 in bfloat16; -2 is 0xc000 and 0xc000.
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setUint16(0, 0x3e00, true);
    view.setUint16(2, 0xc000, true);
    view.setUint16(4, 0x3fc0, true);
    view.setUint16(6, 0xc000, true);
    const bytes = file(
      {
        a: { dtype: 'F16', shape: [1, 2], data_offsets: [0, 4] },
        b: { dtype: 'BF16', shape: [1, 2], data_offsets: [4, 8] },
      },
      data,
    );
    // A module with two plain tensors (no Linear, so nothing is transposed).
    class Pair extends nn.Module {
      a = tensor([[0, 0]], { dtype: 'float64' });
      b = tensor([[0, 0]], { dtype: 'float32' });
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const pair = new Pair();
    loadSafetensors(pair, bytes);
    assert.deepEqual([...pair.a.data], [1.5, -2]);
    assert.deepEqual([...pair.b.data], [1.5, -2]);
  });
});
