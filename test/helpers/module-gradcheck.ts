// gradCheck through a module with its parameters as inputs (the sequence layers' and the transformer's suites).
import assert from 'node:assert/strict';
import { gradCheck, type nn, type Tensor } from '../../src/index.js';

/** Point the module's field at `path` (dotted, as the state dict; array elements by index) to `t`. */
export function setField(module: nn.Module, path: string, t: Tensor): void {
  const parts = path.split('.');
  let owner = module as unknown as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) owner = owner[p] as Record<string, unknown>;
  owner[parts[parts.length - 1]] = t;
}

/**
 * gradCheck of `run` with respect to the inputs and every parameter: each evaluation points the module's
 * fields at gradCheck's float64 copies, so the module reads exactly what is being perturbed.
 */
export function checkModule(
  name: string,
  module: nn.Module,
  inputs: Tensor[],
  run: (...xs: Tensor[]) => Tensor,
  tol = 2e-8,
): void {
  const params = module.namedParameters();
  const r = gradCheck(
    (...ts) => {
      params.forEach(([key], i) => setField(module, key, ts[inputs.length + i]));
      return run(...ts.slice(0, inputs.length));
    },
    [...inputs, ...params.map(([, t]) => t)],
    { tol },
  );
  const names = [...inputs.map((_, i) => `input ${i}`), ...params.map(([k]) => k)];
  const bad = r.inputs.flatMap((x, i) =>
    x.ok ? [] : [`${names[i]}: abs ${x.maxAbsError}, rel ${x.maxRelError}`],
  );
  assert.deepEqual(bad, [], `${name}: ${bad.join('; ')}`);
}
