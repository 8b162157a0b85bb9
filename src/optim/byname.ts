/**
 * Optimizers by the names the command line, model files and the playground use: the one table that
 * maps a name to an optimizer, so they cannot disagree about what `momentum` means.
 */
import type { Tensor } from '../tensor.js';
import type { Optimizer } from './optimizer.js';
import { Adagrad, Adam, AdamW, RMSprop, SGD } from './optimizers.js';

/** One named optimizer: how to make it from a learning rate, and what it is called on a page. */
export interface NamedOptimizer {
  /** How a page or a help text names it. */
  readonly label: string;
  /** A learning rate that works out of the box on standardized data (what `chainrule train` uses). */
  readonly defaultLr: number;
  /** Make it over `params` with learning rate `lr`, every other setting PyTorch's default. */
  create(params: Iterable<Tensor>, lr: number): Optimizer;
}

/** The optimizers by name. */
export const OPTIMIZERS = {
  sgd: { label: 'SGD', defaultLr: 0.05, create: (params, lr) => new SGD(params, { lr }) },
  momentum: {
    label: 'SGD + momentum 0.9',
    defaultLr: 0.01,
    create: (params, lr) => new SGD(params, { lr, momentum: 0.9 }),
  },
  adam: { label: 'Adam', defaultLr: 0.005, create: (params, lr) => new Adam(params, { lr }) },
  adamw: { label: 'AdamW', defaultLr: 0.005, create: (params, lr) => new AdamW(params, { lr }) },
  rmsprop: { label: 'RMSprop', defaultLr: 0.001, create: (params, lr) => new RMSprop(params, { lr }) },
  adagrad: { label: 'Adagrad', defaultLr: 0.05, create: (params, lr) => new Adagrad(params, { lr }) },
} as const satisfies Record<string, NamedOptimizer>;

/** An optimizer's name. */
export type OptimizerName = keyof typeof OPTIMIZERS;

/** Every optimizer name, in the table's order. */
export const OPTIMIZER_NAMES = Object.keys(OPTIMIZERS) as readonly OptimizerName[];

/** The optimizer called `name` over `params` with learning rate `lr` (its default when omitted). */
export function makeOptimizer(name: OptimizerName, params: Iterable<Tensor>, lr?: number): Optimizer {
  if (!Object.hasOwn(OPTIMIZERS, name))
    throw new Error(
      `makeOptimizer: unknown optimizer ${JSON.stringify(name)}; expected one of ${OPTIMIZER_NAMES.join(', ')}`,
    );
  const entry: NamedOptimizer = OPTIMIZERS[name];
  return entry.create(params, lr ?? entry.defaultLr);
}
