// Every playground run kind (Text GPT and LSTM, Images, the table MLP) trained a fixed number of steps gives
// the losses and parameter bits main gave before the steps ran inside tidy() and the Text run's batch was
// refilled in place: on the reference kernels, and on the two-thread WebAssembly set, where tidy() puts
// the steps' op results in the set's shared memory.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels, setKernels, type Kernels } from '../src/index.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { loadText } from '../cli/sequence-data.js';
import { imageRecord, tableRecord, textRecord, type RunRecord } from './helpers/playground-runs.js';

/**
 * The records of test/helpers/playground-runs.ts computed at main's cf26da0 (no tidy, a fresh batch per
 * Text step), the same on the reference kernels, the default set and the two-thread WebAssembly set.
 */
const EXPECTED: Record<'gpt' | 'lstm' | 'images' | 'table', RunRecord> = {
  gpt: {
    losses: [
      null,
      3.3424699534977176,
      3.3413023828625676,
      3.2383677459566114,
      3.130877896130318,
      3.0668046374297275,
      3.017125453691328,
      2.9937423608652995,
      2.906929440893092,
      2.867629901481408,
      2.881146467637021,
      2.900576875357808,
      2.7827350379628237,
      2.843778959497616,
      2.7818145675340777,
      2.7846028227112702,
      2.79231787523343,
      2.755492838161377,
      2.670599069632218,
      2.67592184042981,
      2.678651123780361,
      2.672058349387257,
      2.6881643789879384,
      2.6496298799533746,
      2.6361765536106936,
      2.5987019548589583,
      2.6319637139437204,
      2.644674367313297,
      2.6927612833261914,
    ],
    digest: '586a2564d5d4a4305e0aa5faaefedd1827111ef143756b0202cb1919367f9c5c',
  },
  lstm: {
    losses: [
      null,
      3.3188282137633824,
      3.313567715499015,
      3.2853634357015244,
      3.272244977877834,
      3.241609928465094,
      3.2160466609834124,
      3.1743192383132515,
      3.111551556375846,
      3.076308970766449,
      3.000448527564038,
      2.9934328307950446,
      3.0213918130279023,
      2.965410265558535,
      2.942834824182809,
      2.889885483157372,
      2.9606599676317766,
      2.8953891258764624,
      2.9098906281660537,
      2.946525656653873,
      2.9163458386361767,
      2.8780434676786575,
      2.8832040146997113,
      2.826033851620385,
      2.817471997839462,
      2.926074242471931,
      2.8810756454147204,
      2.8727337362272123,
      2.832800101186645,
    ],
    digest: 'f8133a0fd5ddcd136a0df51ae2714b074766b43a0c3f43d623945074ccf8926e',
  },
  images: {
    losses: [
      2.3199957504127204, 2.2988407207290327, 2.2567694489028365, 2.257430310239482, 2.2606745704871343,
      2.267987513877486, 2.1379877597978028, 2.1984513658905613, 2.1018336256245935, 2.085461267597429,
      2.054675569581462, 2.0231702111965926, 1.9664228355838822, 1.9283484327352005, 1.83186543761737,
      1.8016395580164546, 1.7622425737322438, 1.7250134889815456, 1.6282583973708262, 1.6085662946658035,
      1.6330066997625732, 1.4829595812327474, 1.4776760411199108, 1.401734147799616, 1.420670771004648,
      1.2970678531950668, 1.1977779073175996, 1.3387884983286824, 1.2880626954384224, 1.230306789280033,
      1.2099332049226073, 1.0450861553666015, 1.0708401407198715, 0.8941434053160523, 0.9753058570253322,
      0.8208832189675762, 0.6946681262255687, 0.7299130128117789, 0.9440689731578532, 0.7683507807772114,
      0.7685359565929041, 0.8564910995495668, 0.6695036602249386, 0.8618959807366103, 0.6171136601541996,
      0.6405322408806804, 0.6063298574500098, 2.322972926416728, 0.08055555555555556, 0.8985233289741268,
      0.7361111111111112,
    ],
    digest: '2e9f539a0f80eaad9c3fe497b67ce2a29b1f5ea97fc03bcf5985728bf9ede5dd',
  },
  table: {
    losses: [
      0.5745058183252297, 0.47310201377307126, 0.4866666666666667, 0.62, 0.4856278735455711,
      0.5369339371355669, 0.5577777777777778, 0.44, 0.4723938053875891, 0.5043136434340532,
      0.6377777777777778, 0.52, 0.46619198410980917, 0.513224199682451, 0.6288888888888889, 0.52,
      0.4612744871428292, 0.497223803611457, 0.62, 0.58,
    ],
    digest: 'f05c3fae78c1598269f81e9654a4c8e280a4048acc2b2519a3ef290e8e26ef0f',
  },
};

const names = (await loadText('names', process.cwd())).text;
const wasm2 = await loadWasmKernels({ threads: 2, minThreadWork: 1 });
/** wasm2, counting the scratch blocks it hands out (tidy's), so a test knows the steps ran inside tidy. */
let scratchBlocks = 0;
const counting: Kernels | null = wasm2 && Object.create(wasm2);
if (counting && wasm2?.alloc) {
  const alloc = wasm2.alloc.bind(wasm2);
  counting.alloc = (dtype, n, scratch) => {
    if (scratch) scratchBlocks++;
    return alloc(dtype, n, scratch);
  };
}
const sets: [string, Kernels | null][] = [
  ['reference', referenceKernels],
  ['wasm, two threads', counting],
];

describe('playground runs give main’s losses and parameter bits', () => {
  const previous = setKernels(referenceKernels);
  after(() => {
    setKernels(previous);
    wasm2?.dispose?.();
  });

  test('the two-thread WebAssembly set loads, with memory of its own', () => {
    assert.ok(wasm2, 'the WebAssembly kernels load');
    assert.equal(typeof wasm2.alloc, 'function');
  });

  // Whether the run's steps use tidy's scratch on the wasm set: the table run's arrays stay below its size.
  const records: [keyof typeof EXPECTED, string, () => RunRecord | Promise<RunRecord>, boolean][] = [
    ['gpt', 'the Text page’s GPT', () => textRecord('gpt', names), true],
    ['lstm', 'the Text page’s LSTM', () => textRecord('lstm', names), true],
    ['images', 'the Images page’s CNN', imageRecord, true],
    ['table', 'the table page’s MLP', tableRecord, false],
  ];
  for (const [key, what, record, scratch] of records)
    test(`${what}: main’s losses and parameter bits on the reference and the two-thread WebAssembly kernels`, async () => {
      for (const [name, set] of sets) {
        if (set === null) continue;
        setKernels(set);
        scratchBlocks = 0;
        assert.deepEqual(await record(), EXPECTED[key], `${what} on the ${name} kernels`);
        if (set === counting)
          assert.equal(scratchBlocks > 0, scratch, `${what}: ${scratchBlocks} scratch blocks`);
      }
    });
});
