"""The two polynomials of src/special.ts (ERF_POLY and ERFC_POLY), fitted in 60-digit arithmetic.

Run:  python3 scripts/fit-erf.py   (needs mpmath; prints the coefficients, lowest degree first)
Each is the Chebyshev interpolant at n nodes of the function on its interval, converted to powers of
the variable in exact arithmetic, then rounded to float64 once.
"""

import mpmath as mp

mp.mp.dps = 60


def chebyshev_to_power(values, nodes_u, a, b):
    """Coefficients in t of the interpolant through values at u-nodes, where u = a*t + b."""
    n = len(values)
    c = [2 * sum(values[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n) for k in range(n)) / n for j in range(n)]
    c[0] /= 2
    cheb = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for j in range(2, n):
        nxt = [mp.mpf(0)] * (j + 1)
        for i, v in enumerate(cheb[-1]):
            nxt[i + 1] += 2 * v
        for i, v in enumerate(cheb[-2]):
            nxt[i] -= v
        cheb.append(nxt)
    in_u = [mp.mpf(0)] * n
    for j in range(n):
        for i, v in enumerate(cheb[j]):
            in_u[i] += c[j] * v
    in_t = [mp.mpf(0)] * n
    for i, v in enumerate(in_u):
        for k in range(i + 1):
            in_t[k] += v * mp.binomial(i, k) * a**k * b ** (i - k)
    return in_t


def nodes(n):
    return [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]


# erf(x)/x - 1 in t = x^2 on [0, 0.84375^2], 13 nodes (degree 12).
T = mp.mpf(0.84375) ** 2
us = nodes(13)
erf_poly = chebyshev_to_power([mp.erf(mp.sqrt(T * (1 + u) / 2)) / mp.sqrt(T * (1 + u) / 2) for u in us], us, 2 / T, -1)
erf_poly[0] -= 1  # exactly, before rounding

# (1 + 2x) e^(x^2) erfc(x) in z = (x - 3)/(x + 3) on [-1, 1], 26 nodes (degree 25); at z = 1, 2/sqrt(pi).
W = 3
us = nodes(26)


def F(z):
    x = W * (1 + z) / (1 - z)
    return (1 + 2 * x) * mp.exp(x * x) * mp.erfc(x)


erfc_poly = chebyshev_to_power([F(u) for u in us], us, 1, 0)

for name, p in (("ERF_POLY", erf_poly), ("ERFC_POLY", erfc_poly)):
    print(name, [float(v) for v in p])
