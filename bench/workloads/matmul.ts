/**
 * Workload 3: float32 square matrix products in GFLOP/s (2·n³ flops each), in the three layouts backprop
 * uses: A·B (forward), A·Bᵀ (input gradient G·Wᵀ) and Aᵀ·B (weight gradient Xᵀ·G).
 *
 * chainrule is timed on the active kernel set (`kernels().matmul`, what every op calls) and once through
 * the public `matmul(a, b)` op, which adds the output allocation and graph bookkeeping. tfjs uses
 * tf.matMul(a, b, transposeA, transposeB) and reads the result back (dataSync) so nothing is pending.
 */
import { kernels, matmul, random, tensor } from '../../src/index.js';
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
  const k = kernels();
  progress(`matmul float32, n = ${sizes.join(', ')}; chainrule kernel set '${k.name}'`);
  for (const n of sizes) {
    const a = randomMatrix(rng, n);
    const b = randomMatrix(rng, n);
    const c = new Float32Array(n * n);
    const gflop = (2 * n ** 3) / 1e9;
    const ours = new Map<Layout, Figure>();
    for (const layout of LAYOUTS)
      ours.set(
        layout,
        await measure({
          label: `chainrule kernel n=${n} ${layout.name}`,
          work: gflop,
          call: () => k.matmul(a, 0, b, 0, c, 0, n, n, n, layout.transA, layout.transB),
          reps: cfg.reps,
          minReps: cfg.minReps,
          maxSeconds: budget(cfg, n),
        }),
      );
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
    const wasm = await tfFigures(cfg, 'wasm', n, a, b, gflop);
    const na: NotApplicable = { na: 'brain.js has no matrix product' };
    for (const layout of LAYOUTS) {
      const peers: Record<PeerName, Figure | NotApplicable> = {
        'brain.js': na,
        'tfjs-cpu': cpu.get(layout) as Figure,
        'tfjs-wasm': wasm.get(layout) as Figure,
      };
      rows.push({
        workload: 'matmul',
        name: `matmul n=${n} ${layout.name} (kernel)`,
        unit: 'GFLOP/s',
        ours: ours.get(layout) as Figure,
        peers,
      });
    }
    if (viaOp)
      rows.push({
        workload: 'matmul',
        name: `matmul n=${n} A·B (matmul op)`,
        unit: 'GFLOP/s',
        ours: viaOp,
        peers: {
          'brain.js': na,
          'tfjs-cpu': cpu.get(LAYOUTS[0]) as Figure,
          'tfjs-wasm': wasm.get(LAYOUTS[0]) as Figure,
        },
      });
  }
  return rows;
}
