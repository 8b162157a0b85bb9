// Browser side of test/browser-default.test.ts, bundled by esbuild into one classic script that a page
// loads with <script> and a worker runs from a Blob: the library as `chainrule`, plus the pool's counters.
import * as lib from '../../src/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';

Object.assign(globalThis, { chainrule: lib, chainrulePoolStats: poolStats });
