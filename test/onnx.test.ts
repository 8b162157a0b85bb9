// ONNX export, checked by the real runtime: onnxruntime-node loads every exported model and its outputs
// match chainrule's within 1e-5 relative, for every activation, both dtypes, and both tasks with their
// preprocessing (standardization and one-hot as graph nodes). Plus the protobuf writer's bytes and the
// refusals.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import {
  fitPreprocessing,
  inverseTarget,
  transformFeatures,
  type Preprocessing,
} from '../src/data/preprocess.js';
import { makeTable, type Table } from '../src/data/table.js';
import { ONNX_IR_VERSION, ONNX_OPSET, onnxSignature, OnnxExportError, toOnnx } from '../src/io/onnx.js';
import { ProtoWriter } from '../src/io/protobuf.js';
import {
  fromSpec,
  mlpSpec,
  nn,
  noGrad,
  random,
  tensor,
  type DType,
  type LayerType,
  type Tensor,
} from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { ACTIVATION_CASES, type ImageLayerType } from './helpers/layers.js';

const DTYPES: DType[] = ['float32', 'float64'];

/** The tolerance of the issue: 1e-5 relative; the absolute floor only matters for values near zero. */
const REL = 1e-5;
const ABS = 1e-7;

/**
 * Every layer but Linear, the image layers (whose cases are in onnx-cnn.test.ts) and the sequence layers
 * (onnx-sequence.test.ts), with non-default parameters where it has them; typed over the layer types, so a
 * new activation or layer must get its ONNX case here or there.
 */
const SEQUENCE = {
  embedding: () => new nn.Embedding(3, 2),
  lstm: () => new nn.LSTM(2, 2, { batchFirst: true }),
  gru: () => new nn.GRU(2, 2, { batchFirst: true }),
  rnn: () => new nn.RNN(2, 2, { batchFirst: true }),
  lastStep: () => new nn.LastStep(),
  gpt: () => new nn.GPT({ vocabSize: 3, contextLength: 2, embedDim: 2, numHeads: 1 }),
} satisfies { [T in LayerType]?: () => nn.Module };

const ACTIVATIONS: {
  [T in Exclude<LayerType, 'linear' | ImageLayerType | keyof typeof SEQUENCE>]: () => nn.Module;
} = {
  ...ACTIVATION_CASES,
  softmax: () => new nn.Softmax(-1),
  identity: () => new nn.Identity(),
  dropout: () => new nn.Dropout(0.3),
};

/** Inputs spread over [-4, 4], where every activation has both of its regimes. */
function inputs(rows: number, cols: number, dtype: DType): Tensor {
  const rng = new random.RandomState(7);
  const data = dtype === 'float64' ? new Float64Array(rows * cols) : new Float32Array(rows * cols);
  rng.fillUniform(data, -4, 4);
  return tensor(data, { shape: [rows, cols] });
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes);
}

function forward(model: nn.Module, x: Tensor): Tensor {
  return noGrad(() => model.eval().forward(x));
}

describe('protobuf writer', () => {
  test('writes the encodings of the protobuf documentation', () => {
    // Field 1, varint 150: 08 96 01.
    assert.deepEqual([...new ProtoWriter().int(1, 150).finish()], [0x08, 0x96, 0x01]);
    // Field 2, string "testing": 12 07 74 65 73 74 69 6e 67.
    assert.deepEqual(
      [...new ProtoWriter().string(2, 'testing').finish()],
      [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67],
    );
    // A negative int64 is its 64-bit two's complement: ten bytes.
    assert.deepEqual(
      [...new ProtoWriter().int(1, -1).finish()],
      [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    );
    // Beyond 32 bits without loss: 2^35 = 0x8_0000_0000.
    assert.deepEqual(
      [...new ProtoWriter().int(1, 2 ** 35).finish()],
      [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
    );
    // Float 1.5, fixed32 little-endian: key (2 << 3) | 5.
    assert.deepEqual([...new ProtoWriter().float(2, 1.5).finish()], [0x15, 0x00, 0x00, 0xc0, 0x3f]);
    // Packed int64 [3, 270]: key (4 << 3) | 2, length 3, 03 8e 02.
    assert.deepEqual([...new ProtoWriter().packedInts(4, [3, 270]).finish()], [0x22, 0x03, 0x03, 0x8e, 0x02]);
    // A sub-message is length-delimited; the buffer grows past its first 64 bytes.
    const inner = new ProtoWriter().bytes(1, new Uint8Array(200).fill(7));
    const outer = new ProtoWriter().message(3, inner).finish();
    assert.deepEqual([...outer.subarray(0, 3)], [0x1a, 0xcb, 0x01]); // 203 = 0xcb 0x01
    assert.equal(outer.length, 3 + 203);
    assert.throws(() => new ProtoWriter().int(1, 0.5), /not a safe integer/);
    assert.throws(() => new ProtoWriter().int(0, 1), /field number 0/);
  });
});

describe('toOnnx: the bare network', () => {
  for (const dtype of DTYPES)
    for (const [name, make] of Object.entries(ACTIVATIONS))
      test(`${name}, ${dtype}: onnxruntime gives chainrule's outputs`, async () => {
        const rng = new random.RandomState(3);
        const model = new nn.Sequential(
          new nn.Linear(3, 6, { dtype, rng }),
          make(),
          new nn.Linear(6, 4, { dtype, rng }),
          make(),
        );
        const x = inputs(16, 3, dtype);
        const want = forward(model, x);
        const s = await session(toOnnx(model));
        assert.deepEqual(s.inputNames, ['input']);
        assert.deepEqual(s.outputNames, ['output']);
        const r = await s.run({ input: new ort.Tensor(dtype, x.data, [16, 3]) });
        assert.equal(r.output.type, dtype);
        assert.deepEqual(r.output.dims, [16, 4]);
        assertClose(r.output.data as Float32Array, want.data, {
          rel: REL,
          abs: ABS,
          what: `${name} ${dtype}`,
        });
      });

  test('a Linear without bias, nested Sequentials and a single layer export too', async () => {
    const rng = new random.RandomState(5);
    const inner = new nn.Sequential(new nn.Linear(4, 3, { bias: false, rng }), new nn.Tanh());
    const model = new nn.Sequential(inner, new nn.Linear(3, 2, { rng }));
    for (const m of [model, new nn.Linear(4, 2, { rng })]) {
      const x = inputs(5, 4, 'float32');
      const r = await (await session(toOnnx(m))).run({ input: new ort.Tensor('float32', x.data, [5, 4]) });
      assertClose(r.output.data as Float32Array, forward(m, x).data, { rel: REL, abs: ABS, what: 'nested' });
    }
  });

  test('any batch size runs: the batch dimension is symbolic', async () => {
    const model = new nn.Sequential(new nn.Linear(2, 3, { rng: new random.RandomState(1) }), new nn.ReLU());
    const s = await session(toOnnx(model));
    for (const rows of [1, 7, 300]) {
      const x = inputs(rows, 2, 'float32');
      const r = await s.run({ input: new ort.Tensor('float32', x.data, [rows, 2]) });
      assert.deepEqual(r.output.dims, [rows, 3]);
    }
  });

  test('a network with no Linear (width unknown) still exports', async () => {
    const model = new nn.Sequential(new nn.Identity());
    const s = await session(toOnnx(model));
    const x = inputs(3, 5, 'float32');
    const r = await s.run({ input: new ort.Tensor('float32', x.data, [3, 5]) });
    assertClose(r.output.data as Float32Array, x.data, { what: 'identity' });
  });

  test('the header: IR version 8, opset 17 of the default domain, producer chainrule', () => {
    const bytes = toOnnx(new nn.Linear(2, 1));
    // ModelProto field 1 (ir_version) comes first: key 0x08, then the version.
    assert.deepEqual([...bytes.subarray(0, 2)], [0x08, ONNX_IR_VERSION]);
    assert.equal(ONNX_OPSET, 17);
    const text = new TextDecoder().decode(bytes);
    assert.match(text, /chainrule/);
    assert.doesNotMatch(text, /chainrule\.preprocessing/);
    const pre = fitPreprocessing(mixedTable('class'), { target: 'kind' });
    const withPre = new TextDecoder().decode(
      toOnnx(fromSpec(mlpSpec([9, 3], 'relu')), { preprocessing: pre }),
    );
    assert.ok(withPre.includes(`chainrule.preprocessing${String.fromCharCode(0x12)}`), 'metadata key');
    assert.ok(withPre.includes(JSON.stringify(pre)), 'the preprocessing as JSON in the metadata');
  });
});

/** A table with numeric and text columns interleaved, so the graph must reorder the inputs. */
function mixedTable(target: 'class' | 'value'): Table {
  const rng = new random.RandomState(11);
  const n = 40;
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  rng.fillNormal(a, 50, 10);
  rng.fillNormal(b, -3, 0.5);
  const colors = ['red', 'green', 'blue'];
  const sizes = ['S', 'M', 'L', 'XL'];
  const color = Array.from({ length: n }, (_, i) => colors[(i * 7) % 3]);
  const size = Array.from({ length: n }, (_, i) => sizes[(i * 5) % 4]);
  const cls = Array.from({ length: n }, (_, i) => ['cat', 'dog', 'emu'][Math.floor(i / 2) % 3]);
  const value = Float64Array.from(a, (v, i) => v * 2 + b[i] * 100 + (color[i] === 'red' ? 5 : 0));
  return makeTable('mixed', [
    { name: 'a', values: a },
    { name: 'color', values: color },
    { name: 'b', values: b },
    { name: 'size', values: size },
    target === 'class' ? { name: 'kind', values: cls } : { name: 'price', values: value },
  ]);
}

/** The ONNX inputs for a table: raw numeric columns and category indices, per the documented contract. */
function onnxInputs(pre: Preprocessing, table: Table, dtype: DType): Record<string, ort.Tensor> {
  const n = table.numRows;
  const col = (name: string) => table.columns.find((c) => c.name === name)!;
  const numeric = pre.features.filter((f) => f.kind === 'numeric');
  const categorical = pre.features.filter((f) => f.kind === 'categorical');
  const feeds: Record<string, ort.Tensor> = {};
  if (numeric.length > 0) {
    const data =
      dtype === 'float64' ? new Float64Array(n * numeric.length) : new Float32Array(n * numeric.length);
    numeric.forEach((f, j) => {
      const values = col(f.name).values as ArrayLike<number>;
      for (let r = 0; r < n; r++) data[r * numeric.length + j] = values[r];
    });
    feeds.features = new ort.Tensor(dtype, data, [n, numeric.length]);
  }
  if (categorical.length > 0) {
    const data = new BigInt64Array(n * categorical.length);
    categorical.forEach((f, j) => {
      if (f.kind !== 'categorical') return;
      const values = col(f.name).values as readonly string[];
      for (let r = 0; r < n; r++) data[r * categorical.length + j] = BigInt(f.categories.indexOf(values[r]));
    });
    feeds.categories = new ort.Tensor('int64', data, [n, categorical.length]);
  }
  return feeds;
}

describe('toOnnx: with preprocessing, raw inputs to answers', () => {
  for (const dtype of DTYPES) {
    test(`a classifier (numeric and text columns interleaved), ${dtype}`, async () => {
      const table = mixedTable('class');
      const pre = fitPreprocessing(table, { target: 'kind' });
      assert.equal(pre.inputSize, 2 + 3 + 4);
      const model = fromSpec(mlpSpec([pre.inputSize, 8, 3], 'gelu'), {
        dtype,
        rng: new random.RandomState(2),
      });
      const want = inverseTarget(pre, forward(model, transformFeatures(pre, table, dtype)));
      assert.equal(want.kind, 'classes');
      if (want.kind !== 'classes') return;

      const bytes = toOnnx(model, { preprocessing: pre });
      const s = await session(bytes);
      assert.deepEqual(s.inputNames, ['features', 'categories']);
      assert.deepEqual(s.outputNames, ['probabilities', 'label']);
      const r = await s.run(onnxInputs(pre, table, dtype));
      assert.equal(r.probabilities.type, dtype);
      assert.deepEqual(r.probabilities.dims, [table.numRows, 3]);
      const expected = want.probabilities.flatMap((p) => [...p]);
      assertClose(r.probabilities.data as Float32Array, expected, {
        rel: REL,
        abs: ABS,
        what: `probabilities ${dtype}`,
      });
      assert.deepEqual(
        Array.from(r.label.data as BigInt64Array, Number),
        Array.from(want.classIndex),
        'labels',
      );
    });

    test(`a regressor gives values in the target's units, ${dtype}`, async () => {
      const table = mixedTable('value');
      const pre = fitPreprocessing(table, { target: 'price' });
      assert.equal(pre.target.kind, 'numeric');
      const model = fromSpec(mlpSpec([pre.inputSize, 6, 1], 'elu'), {
        dtype,
        rng: new random.RandomState(4),
      });
      const want = inverseTarget(pre, forward(model, transformFeatures(pre, table, dtype)));
      assert.equal(want.kind, 'numeric');
      if (want.kind !== 'numeric') return;
      const s = await session(toOnnx(model, { preprocessing: pre }));
      assert.deepEqual(s.outputNames, ['prediction']);
      const r = await s.run(onnxInputs(pre, table, dtype));
      assert.deepEqual(r.prediction.dims, [table.numRows, 1]);
      assertClose(r.prediction.data as Float32Array, want.values, {
        rel: REL,
        abs: ABS,
        what: `prediction ${dtype}`,
      });
    });
  }

  for (const dtype of DTYPES)
    test(`missing values: NaN and -1 take the training fills in the graph, as chainrule fills them, ${dtype}`, async () => {
      const table = mixedTable('class');
      const pre = fitPreprocessing(table, { target: 'kind', missing: 'mean' });
      // The fitted table had no gaps: give two features fills, as a table with gaps would have.
      const a = pre.features.find((f) => f.name === 'a')!;
      const size = pre.features.find((f) => f.name === 'size')!;
      assert.ok(a.kind === 'numeric' && size.kind === 'categorical');
      a.fill = 47.5;
      size.fill = 'L';
      const model = fromSpec(mlpSpec([pre.inputSize, 8, 3], 'tanh'), {
        dtype,
        rng: new random.RandomState(5),
      });
      const holes = makeTable('holes', [
        { name: 'a', values: Float64Array.of(NaN, 51), textCells: new Map([[0, 'NA']]) },
        { name: 'color', values: ['red', 'blue'] },
        { name: 'b', values: Float64Array.of(-3, -2.5) },
        { name: 'size', values: ['M', ''] },
      ]);
      const want = inverseTarget(pre, forward(model, transformFeatures(pre, holes, dtype)));
      assert.equal(want.kind, 'classes');
      if (want.kind !== 'classes') return;
      const s = await session(toOnnx(model, { preprocessing: pre }));
      const F = dtype === 'float64' ? Float64Array : Float32Array;
      const r = await s.run({
        features: new ort.Tensor(dtype, F.of(NaN, -3, 51, -2.5), [2, 2]),
        categories: new ort.Tensor('int64', BigInt64Array.of(0n, 1n, 2n, -1n), [2, 2]),
      });
      assertClose(
        r.probabilities.data as Float32Array,
        want.probabilities.flatMap((p) => [...p]),
        {
          rel: REL,
          abs: ABS,
          what: `probabilities ${dtype}`,
        },
      );
      const sig = onnxSignature(model, { preprocessing: pre });
      assert.match(sig.inputs[0].description, /; NaN for a missing value, filled in the graph: a → 47\.5$/);
      assert.match(
        sig.inputs[1].description,
        /size \(0=S, 1=M, 2=L, 3=XL; -1 for a missing value, filled with 2\)$/,
      );
    });

  test('numeric-only and text-only preprocessing have only the input they need', async () => {
    const numericOnly = makeTable('n', [
      { name: 'x', values: Float64Array.from([1, 2, 3, 4, 5, 6]) },
      { name: 'y', values: Float64Array.from([2, 1, 4, 3, 6, 5]) },
    ]);
    let pre = fitPreprocessing(numericOnly, { target: 'y', task: 'regression' });
    let model = fromSpec(mlpSpec([1, 4, 1], 'tanh'), { rng: new random.RandomState(1) });
    let s = await session(toOnnx(model, { preprocessing: pre }));
    assert.deepEqual(s.inputNames, ['features']);
    let want = inverseTarget(pre, forward(model, transformFeatures(pre, numericOnly)));
    let r = await s.run(onnxInputs(pre, numericOnly, 'float32'));
    assertClose(r.prediction.data as Float32Array, want.kind === 'numeric' ? want.values : [], {
      rel: REL,
      abs: ABS,
      what: 'n',
    });

    const textOnly = makeTable('t', [
      { name: 'c', values: ['a', 'b', 'c', 'a', 'b', 'c'] },
      { name: 'y', values: ['yes', 'no', 'yes', 'no', 'yes', 'no'] },
    ]);
    pre = fitPreprocessing(textOnly, { target: 'y' });
    model = fromSpec(mlpSpec([3, 4, 2], 'relu'), { rng: new random.RandomState(1) });
    s = await session(toOnnx(model, { preprocessing: pre, label: false }));
    assert.deepEqual(s.inputNames, ['categories']);
    assert.deepEqual(s.outputNames, ['probabilities']);
    want = inverseTarget(pre, forward(model, transformFeatures(pre, textOnly)));
    r = await s.run(onnxInputs(pre, textOnly, 'float32'));
    const expected = want.kind === 'classes' ? want.probabilities.flatMap((p) => [...p]) : [];
    assertClose(r.probabilities.data as Float32Array, expected, { rel: REL, abs: ABS, what: 't' });
  });

  test('onnxSignature describes the inputs and outputs it writes', () => {
    const table = mixedTable('class');
    const pre = fitPreprocessing(table, { target: 'kind' });
    const model = fromSpec(mlpSpec([pre.inputSize, 3], 'relu'));
    const sig = onnxSignature(model, { preprocessing: pre });
    assert.deepEqual(
      sig.inputs.map((v) => [v.name, v.type, v.shape]),
      [
        ['features', 'float32', ['batch', 2]],
        ['categories', 'int64', ['batch', 2]],
      ],
    );
    assert.match(sig.inputs[0].description, /a, b/);
    assert.match(sig.inputs[1].description, /color \(0=red, 1=green, 2=blue\); size \(0=S/);
    assert.deepEqual(
      sig.outputs.map((v) => [v.name, v.type, v.shape]),
      [
        ['probabilities', 'float32', ['batch', 3]],
        ['label', 'int64', ['batch']],
      ],
    );
    assert.deepEqual(
      onnxSignature(new nn.Linear(3, 2)).inputs.map((v) => [v.name, v.shape]),
      [['input', ['batch', 3]]],
    );
  });
});

describe('toOnnx refuses what ONNX cannot express, naming the module', () => {
  class Square extends nn.Module {
    forward(x: Tensor): Tensor {
      return x.mul(x);
    }
  }
  class MyLinear extends nn.Linear {}

  test('the sequence layers are exported (their cases: onnx-sequence.test.ts)', () => {
    for (const make of Object.values(SEQUENCE)) {
      const m = make();
      const first =
        m instanceof nn.Embedding || m instanceof nn.GPT ? [] : [new nn.LSTM(2, 2, { batchFirst: true })];
      const last = m instanceof nn.LastStep ? [] : [new nn.LastStep()];
      assert.ok(toOnnx(new nn.Sequential(...first, m, ...last)).length > 0, m.constructor.name);
    }
  });

  test('custom modules and subclasses', () => {
    assert.throws(
      () => toOnnx(new nn.Sequential(new nn.Linear(2, 2), new Square())),
      (e: Error) =>
        e instanceof OnnxExportError && /layer 1 \(Square\) cannot be expressed in ONNX/.test(e.message),
    );
    assert.throws(
      () => toOnnx(new nn.Sequential(new nn.Sequential(new nn.ReLU(), new MyLinear(2, 2)))),
      /layer 0\.1 \(MyLinear\) cannot be expressed/,
    );
  });

  test('a softmax over an axis the [batch, features] graph lacks, mixed dtypes, sizes that do not chain', () => {
    assert.throws(
      () => toOnnx(new nn.Sequential(new nn.Linear(2, 2), new nn.Softmax(2))),
      /layer 1 \(Softmax\) has axis 2/,
    );
    assert.throws(
      () => toOnnx(new nn.Sequential(new nn.Linear(2, 2), new nn.Linear(2, 2, { dtype: 'float64' }))),
      /'0\.weight' is float32 and '1\.weight' is float64/,
    );
    assert.throws(
      () => toOnnx(new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(2, 2))),
      /layer 1 \(Linear\) takes 2 features but receives 3/,
    );
  });

  test('preprocessing that does not fit the network', () => {
    const pre = fitPreprocessing(mixedTable('class'), { target: 'kind' });
    assert.throws(
      () => toOnnx(fromSpec(mlpSpec([5, 3], 'relu')), { preprocessing: pre }),
      /the preprocessing makes 9 inputs but the network takes 5/,
    );
    assert.throws(
      () => toOnnx(fromSpec(mlpSpec([9, 2], 'relu')), { preprocessing: pre }),
      /the target has 3 classes but the network has 2 outputs/,
    );
    assert.throws(
      () => toOnnx(fromSpec(mlpSpec([9, 3], 'relu')), { preprocessing: { ...pre, inputSize: 4 } }),
      /inputSize/,
    );
  });
});
