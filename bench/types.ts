/** Shapes shared by the workloads, the table and results.json. */
import type { Figure } from './harness.js';

/** The libraries compared with chainrule, in table order. */
export const PEERS = ['brain.js', 'tfjs-cpu', 'tfjs-wasm'] as const;
export type PeerName = (typeof PEERS)[number];

/** A peer that cannot run a workload, with the reason. */
export interface NotApplicable {
  na: string;
}

/** One line of the table: chainrule's figure against each peer's on the same work. */
export interface Row {
  /** Workload group (`seed`, `mlp`, `matmul`). */
  workload: string;
  /** What was measured, as the table shows it. */
  name: string;
  /** Unit of every figure on the row (higher is better). */
  unit: string;
  ours: Figure;
  peers: Record<PeerName, Figure | NotApplicable>;
}

/** Settings of one run of the suite. */
export interface BenchConfig {
  quick: boolean;
  /** Timed runs wanted per figure. */
  reps: number;
  /** Fewest timed runs accepted for slow backends. */
  minReps: number;
}

export function isFigure(x: Figure | NotApplicable): x is Figure {
  return 'median' in x;
}
