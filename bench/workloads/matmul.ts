/**
 * Workload 3: square matrix products in GFLOP/s (2·n³ flops each), in the three layouts backprop uses:
 * A·B (forward), A·Bᵀ (input gradient G·Wᵀ) and Aᵀ·B (weight gradient Xᵀ·G).
 *
 * chainrule is timed on the reference kernels ("reference kernel" rows), on the WebAssembly SIMD set
 * ("wasm kernel" rows, copies in and out of wasm memory included), on the same set with a thread per core
 * (`threads: 'auto'`; "wasm-simd-threadsN kernel" rows, where N > 1), and once through the public
 * `matmul(a, b)` op on the default kernels (what a program that makes no opt-in call runs on), which adds
 * the output allocation and graph bookkeeping. tfjs uses
 * tf.matMul(a, b, transposeA, transposeB) and reads the result back (dataSync) so nothing is pending.
 * Float64 rows compare chainrule's two kernel sets only: tfjs has no float64.
 */
import {
  kernels,
  loadWasmKernels,
  matmul,
  random,
  referenceKernels,
  tensor,
  type Kernels,
  type Storage,
} from '../../src/index.js';
import { measure, progress, type Figure } from '../harness.js';
import { loadTf, type TfBackend } from '../peers/tfjs.js';
import type { BenchConfig, NotApplicable, PeerName, Row } from '../types.js';

const LAYOUTS = [
  { name: 'A·B', transA: false, transB: false },
  { name: 'A·Bᵀ', transA: false, transB: true },
  { name: 'Aᵀ·B', transA: true, transB: false },
] as const;

type Layout = (typeof LAYOUTS)[number];

function randomMatrix(rng: random.RandomState, n: number): Float32Array {
  const m = new Float32Array(n * n);
  rng.mt.fillRandom(m);
  return m;
}

/** One figure per layout for kernel set `k` on a, b (n×n). */
async function kernelFigures(
  cfg: BenchConfig,
  k: Kernels,
  n: number,
  a: Storage,
  b: Storage,
  gflop: number,
  what: string,
): Promise<Map<Layout, Figure>> {
  const c = a instanceof Float32Array ? new Float32Array(n * n) : new Float64Array(n * n);
  const out = new Map<Layout, Figure>();
  for (const layout of LAYOUTS)
    out.set(
      layout,
      await measure({
        label: `chainrule ${what} n=${n} ${layout.name}`,
        work: gflop,
        call: () => k.matmul(a, 0, b, 0, c, 0, n, n, n, layout.transA, layout.transB),
        reps: cfg.reps,
        minReps: cfg.minReps,
        maxSeconds: budget(cfg, n),
      }),
    );
  return out;
}

/** Seconds the timed part of one figure may take: large products get fewer runs (at least minReps). */
function budget(cfg: BenchConfig, n: number): number {
  if (cfg.quick) return 0.5;
  return n >= 1024 ? 7 : 3;
}

async function tfFigures(
  cfg: BenchConfig,
  backend: TfBackend,
  n: number,
  a: Float32Array,
  b: Float32Array,
  gflop: number,
): Promise<Map<Layout, Figure>> {
  const peer = await loadTf();
  await peer.use(backend);
  const { tf } = peer;
  const ta = tf.tensor2d(a, [n, n]);
  const tb = tf.tensor2d(b, [n, n]);
  const out = new Map<Layout, Figure>();
  for (const layout of LAYOUTS) {
    const figure = await measure({
      label: `tfjs ${backend} n=${n} ${layout.name}`,
      work: gflop,
      call: () => {
        const c = tf.matMul(ta, tb, layout.transA, layout.transB);
        c.dataSync();
        c.dispose();
      },
      reps: cfg.reps,
      minReps: cfg.minReps,
      maxSeconds: budget(cfg, n),
    });
    out.set(layout, figure);
  }
  tf.dispose([ta, tb]);
  return out;
}

export async function matmulWorkload(cfg: BenchConfig): Promise<Row[]> {
  const sizes = cfg.quick ? [128, 256] : [256, 512, 1024];
  const rng = new random.RandomState(99);
  const rows: Row[] = [];
  const k = referenceKernels;
  const wasm = await loadWasmKernels();
  const auto = await loadWasmKernels({ threads: 'auto' });
  // The threaded set only where it has more than one thread (else it is the plain set again).
  const threaded = auto && auto.name !== wasm?.name ? auto : null;
  progress(
    `matmul float32 and float64, n = ${sizes.join(', ')}; chainrule kernel sets '${k.name}', ` +
      `'${wasm?.name ?? 'wasm unavailable'}'${threaded ? ` and '${threaded.name}'` : ''}; ` +
      `the matmul op on the default set '${kernels().name}'`,
  );
  const na: NotApplicable = { na: 'brain.js has no matrix product' };
  const no64: NotApplicable = { na: 'no float64' };
  for (const n of sizes) {
    const a = randomMatrix(rng, n);
    const b = randomMatrix(rng, n);
    const gflop = (2 * n ** 3) / 1e9;
    const ours = await kernelFigures(cfg, k, n, a, b, gflop, `${k.name} kernel`);
    const oursWasm = wasm ? await kernelFigures(cfg, wasm, n, a, b, gflop, `${wasm.name} kernel`) : null;
    const oursThreads = threaded
      ? await kernelFigures(cfg, threaded, n, a, b, gflop, `${threaded.name} kernel`)
      : null;
    // The op adds only an n² allocation and a graph node to the kernel's n³ work; the largest size is
    // left out to keep the run short.
    let viaOp: Figure | null = null;
    if (n < 1024) {
      const ta = tensor(a, { shape: [n, n] });
      const tb = tensor(b, { shape: [n, n] });
      viaOp = await measure({
        label: `chainrule matmul() n=${n} A·B`,
        work: gflop,
        call: () => void matmul(ta, tb),
        reps: cfg.reps,
        minReps: cfg.minReps,
        maxSeconds: budget(cfg, n),
      });
    }
    const cpu = await tfFigures(cfg, 'cpu', n, a, b, gflop);
    const tfWasm = await tfFigures(cfg, 'wasm', n, a, b, gflop);
    const peersOf = (layout: Layout): Record<PeerName, Figure | NotApplicable> => ({
      'brain.js': na,
      'tfjs-cpu': cpu.get(layout) as Figure,
      'tfjs-wasm': tfWasm.get(layout) as Figure,
    });
    for (const layout of LAYOUTS)
      rows.push({
        workload: 'matmul',
        name: `matmul n=${n} ${layout.name} (reference kernel)`,
        unit: 'GFLOP/s',
        ours: ours.get(layout) as Figure,
        peers: peersOf(layout),
      });
    if (oursWasm)
      for (const layout of LAYOUTS)
        rows.push({
          workload: 'matmul',
          name: `matmul n=${n} ${layout.name} (wasm kernel)`,
          unit: 'GFLOP/s',
          ours: oursWasm.get(layout) as Figure,
          peers: peersOf(layout),
        });
    if (threaded && oursThreads)
      for (const layout of LAYOUTS)
        rows.push({
          workload: 'matmul',
          name: `matmul n=${n} ${layout.name} (${threaded.name} kernel)`,
          unit: 'GFLOP/s',
          ours: oursThreads.get(layout) as Figure,
          peers: peersOf(layout),
        });
    if (viaOp)
      rows.push({
        workload: 'matmul',
        name: `matmul n=${n} A·B (matmul op, ${kernels().name})`,
        unit: 'GFLOP/s',
        ours: viaOp,
        peers: peersOf(LAYOUTS[0]),
      });

    const a64 = Float64Array.from(a);
    const b64 = Float64Array.from(b);
    const sets = [k, wasm, threaded].filter((s): s is Kernels => s !== null);
    for (const set of sets) {
      const figs = await kernelFigures(cfg, set, n, a64, b64, gflop, `${set.name} kernel float64`);
      const which = set === k ? 'reference ' : set === wasm ? 'wasm ' : `${set.name} `;
      for (const layout of LAYOUTS)
        rows.push({
          workload: 'matmul',
          name: `matmul float64 n=${n} ${layout.name} (${which}kernel)`,
          unit: 'GFLOP/s',
          ours: figs.get(layout) as Figure,
          peers: { 'brain.js': na, 'tfjs-cpu': no64, 'tfjs-wasm': no64 },
        });
    }
  }
  return rows;
}
