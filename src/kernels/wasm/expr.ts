/**
 * A small tree language over SIMD values for the libm emitters (`libm.ts` over f64x2, `libm32.ts` over
 * f32x4), so each line of an emitter reads like the TypeScript it mirrors: an expression is a v128 local,
 * a constant splatted into every lane, or a node holding the code that pushes its value.
 */
import type { Func, Local, Op } from './asm.js';

/** An expression node: the code that pushes its value. */
export class Node {
  constructor(readonly emit: (f: Func) => void) {}
}

/**
 * `push` (emit an operand: a node's code, a constant by `constant`, else `local.get`), the makers of
 * one- and two-operand nodes, a lane select and a temporary, for operands `Local | C | Node` where `isConstant` tells the constants.
 */
export function expressions<C>(
  isConstant: (e: Local | C | Node) => e is C,
  constant: (f: Func, c: C) => void,
) {
  type Ex = Local | C | Node;
  const push = (f: Func, e: Ex): void => {
    if (e instanceof Node) e.emit(f);
    else if (isConstant(e)) constant(f, e);
    else f.get(e as Local);
  };
  const op1 = (op: Op) => (a: Ex) =>
    new Node((f) => {
      push(f, a);
      f.op(op);
    });
  const op2 = (op: Op) => (a: Ex, b: Ex) =>
    new Node((f) => {
      push(f, a);
      push(f, b);
      f.op(op);
    });
  /** mask ? then : otherwise, lane by lane (mask lanes are all ones or all zeros). */
  const sel = (then: Ex, otherwise: Ex, mask: Ex) =>
    new Node((f) => {
      push(f, then);
      push(f, otherwise);
      push(f, mask);
      f.op('v128.bitselect');
    });
  /** Evaluate into a new local. */
  const tmp = (f: Func, e: Ex): Local => {
    const l = f.local('v128');
    push(f, e);
    f.set(l);
    return l;
  };
  return { push, op1, op2, sel, tmp };
}
