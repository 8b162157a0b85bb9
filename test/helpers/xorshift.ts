// A tiny seeded generator for test sweeps, so their randoms are the same every run.

/** xorshift32 from `seed`: each call gives a uniform number in [0, 1). */
export function xorshift32(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}
