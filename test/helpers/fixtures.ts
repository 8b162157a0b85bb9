// The reference fixtures in test/fixtures/ (see its README.md: what made each file, and how to remake it).
// Every test loads them through here, so no test reads outside the repository.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { nn, type DType, type Tensor } from '../../src/index.js';

/** A file of test/fixtures/; a bare file name, so nothing outside that folder can be named. */
function fixtureUrl(name: string): URL {
  if (!/^[\w-][\w.-]*$/.test(name))
    throw new Error(`fixture: expected a file name in test/fixtures/, got '${name}'`);
  return new URL(`../fixtures/${name}`, import.meta.url);
}

/** Parse a JSON fixture. */
export function fixture<T>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}

/** A text fixture (the seed notebook), as UTF-8. */
export function fixtureText(name: string): string {
  return readFileSync(fixtureUrl(name), 'utf8');
}

/** A binary fixture (torch-mlp.safetensors): a plain Uint8Array of its bytes, not a Buffer. */
export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(fixtureUrl(name)));
}

/** Flatten nested arrays of numbers. */
export function flat(x: unknown): number[] {
  return (x as unknown[]).flat(Infinity as 1) as number[];
}

/** An MLP case of mlp-gradients.json. */
export interface MlpCase {
  name: string;
  sizes: number[];
  activations: string[];
  loss: 'mseHalfSum' | 'mse' | 'bce' | 'crossEntropy' | 'huber';
  x: number[][];
  y: number[][] | number[];
  weights: number[][][];
  biases: number[][];
  output: number[][];
  lossValue: number;
  gradWeights: number[][][];
  gradBiases: number[][];
}

/** The module of a fixture's activation name: PyTorch's defaults (leaky slope 0.01, ELU alpha 1) are ours. */
function activation(name: string): nn.Module {
  if (name === 'identity') return new nn.Identity();
  assert.ok(Object.hasOwn(nn.ACTIVATION_MODULES, name), `unknown activation ${name}`);
  return new nn.ACTIVATION_MODULES[name as keyof typeof nn.ACTIVATION_MODULES]();
}

/** Build the case's network as an nn.Sequential with its weights loaded. */
export function buildMlp(
  c: Pick<MlpCase, 'sizes' | 'activations' | 'weights' | 'biases'>,
  dtype: DType,
): nn.Sequential {
  const layers: nn.Module[] = [];
  const state: Record<string, number[] | number[][]> = {};
  for (let i = 0; i + 1 < c.sizes.length; i++) {
    state[`${layers.length}.weight`] = c.weights[i];
    state[`${layers.length}.bias`] = c.biases[i];
    layers.push(new nn.Linear(c.sizes[i], c.sizes[i + 1], { dtype }));
    layers.push(activation(c.activations[i]));
  }
  const model = new nn.Sequential(...layers);
  model.loadStateDict(state);
  return model;
}

/** The Linear layers' weights and biases, in order. */
export function linearParams(model: nn.Sequential): { weights: Tensor[]; biases: Tensor[] } {
  const lin = model.layers.filter((l): l is nn.Linear => l instanceof nn.Linear);
  return { weights: lin.map((l) => l.weight), biases: lin.map((l) => l.bias as Tensor) };
}
