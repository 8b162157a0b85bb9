// The allocator behind resident arrays in the WebAssembly memory: first fit, cache-line blocks, freed
// neighbours merged, the top lowered when its last block goes, nothing handed out twice or below a floor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../src/kernels/wasm/heap.js';

test('blocks are cache-line aligned, disjoint, and reused first-fit after release', () => {
  const h = new Heap(100);
  const a = h.alloc(10);
  const b = h.alloc(100);
  const c = h.alloc(64);
  assert.deepEqual([a, b, c], [128, 192, 320]);
  assert.equal(h.end, 384);
  h.release(b);
  // A small block fits in b's hole; a large one goes on top.
  assert.equal(h.alloc(64), 192);
  assert.equal(h.alloc(200), 384);
  assert.equal(h.allocated, 64 + 64 + 64 + 256);
});

test('freed neighbours merge, and the top comes down when the last block is freed', () => {
  const h = new Heap(0);
  const blocks = [h.alloc(64), h.alloc(64), h.alloc(64), h.alloc(64)];
  h.release(blocks[1]);
  h.release(blocks[2]);
  // The merged hole of two blocks takes a two-block request.
  assert.equal(h.alloc(128), blocks[1]);
  h.release(blocks[1]);
  h.release(blocks[3]);
  // Freeing the top lowers it past the merged hole below.
  assert.equal(h.end, 64);
  h.release(blocks[0]);
  assert.equal(h.end, 0);
  assert.equal(h.allocated, 0);
  h.release(12345); // unknown: ignored
});

test('skipTo: nothing is handed out below the floor again', () => {
  const h = new Heap(0);
  const a = h.alloc(64);
  h.alloc(64);
  h.skipTo(1000);
  assert.equal(h.end, 1024);
  h.release(a);
  const c = h.alloc(64);
  assert.ok(c >= 1024, `got ${c}`);
});
