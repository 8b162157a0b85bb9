"""The float32 GELU polynomials of src/libm32.ts (GELU32.H_P/H_Q, GELU32.S, GELU32.V), fitted in float64.

Run:  python3 scripts/fit-gelu-f32.py   (needs numpy and scipy; prints float32 coefficients, lowest degree first)

With a = |x| and c = sqrt(2 pi), Phi(-a) = exp(-a^2/2) / D(a), D(a) = c a + H(a). H falls from 2 at a = 0 to
about c/a; it is fitted as a rational P/Q (degrees 4/5, P(0) = 2 exactly) on [0, 16], minimising the error
of D relative to D (the weight H/D of H in D is what a rounding of H costs). For |x| < 1,
Phi(x) = 1/2 + x S(x^2) and Phi(x) + x phi(x) = 1/2 + x V(x^2), S and V least-squares fits at Chebyshev
nodes, reweighted towards minimax (Lawson). Each fit's error is far below float32's half ulp (printed).
"""

import numpy as np
from scipy.special import erf, erfcx

C = np.sqrt(2 * np.pi)
INV_SQRT_2PI = 1 / C


def cheb(lo, hi, n=8000):
    u = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    return np.concatenate([[lo, hi], lo + (hi - lo) * (1 + u) / 2])


def fit_h(n=4, m=5, A=16.0, iters=150):
    a = cheb(0.0, A)
    H = 1 / (0.5 * erfcx(a / np.sqrt(2))) - C * a
    D = H + C * a
    w = np.ones_like(a)
    q_prev = np.ones_like(a)
    best = None
    for it in range(iters):
        # P(a) - H(a) Q(a) = 0 with p0 = 2, q0 = 1, linearised at the previous Q (Loeb), weighted by 1/D.
        M = np.stack([a**i for i in range(1, n + 1)] + [-H * a**j for j in range(1, m + 1)], 1)
        scale = w / (D * q_prev)
        sol, *_ = np.linalg.lstsq(M * scale[:, None], (H - 2) * scale, rcond=None)
        p = np.concatenate([[2.0], sol[:n]])
        q = np.concatenate([[1.0], sol[n:]])
        P = np.polyval(p[::-1], a)
        Q = np.polyval(q[::-1], a)
        err = (P / Q - H) / D
        e = np.max(np.abs(err))
        if best is None or e < best[0]:
            best = (e, p, q)
        q_prev = Q
        if it > 10:
            w = w * np.abs(err) ** 0.5
            w /= w.max()
    return best


def fit_poly(fn, deg, T=1.0, iters=30):
    """y = fn(x) as a polynomial in t = x^2 on [0, T], minimising the error of x y."""
    x = cheb(0.0, T, 4000)
    t = x * x
    y = fn(x)
    w = np.maximum(x, 1e-3)
    M = np.stack([t**i for i in range(deg + 1)], 1)
    for it in range(iters):
        s, *_ = np.linalg.lstsq(M * w[:, None], y * w, rcond=None)
        err = (M @ s - y) * x
        w = w * np.abs(err / np.max(np.abs(err))) ** 0.3 + 1e-12
    return np.max(np.abs(err)), s


def S(x):
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, 0.5 * erf(safe / np.sqrt(2)) / safe, INV_SQRT_2PI)


def V(x):
    return S(x) + INV_SQRT_2PI * np.exp(-x * x / 2)


def f32(cs):
    return [str(np.float32(c)) for c in cs]


e, p, q = fit_h()
print("H: max error relative to D", e)
print("GELU32.H_P", f32(p))
print("GELU32.H_Q", f32(q))
e, s = fit_poly(S, 5)
print("S: max error of x S", e)
print("GELU32.S", f32(s))
e, v = fit_poly(V, 6)
print("V: max error of x V", e)
print("GELU32.V", f32(v))
