/**
 * Address bookkeeping for arrays that live in the kernels' memory ("resident" arrays: the fused step's
 * buffers, gradients, optimizer state), so kernel calls use them where they are instead of copying them
 * in and out. First fit over a list of free blocks, merged with their neighbours when freed; the top of
 * the heap moves up as needed and back down when its last block is freed. Only numbers here: the runtime
 * grows the memory and makes the views.
 */

/** Every block starts on a 64-byte cache line. */
const ALIGN = 64;

/** A first-fit allocator of byte ranges above a fixed start. */
export class Heap {
  /** Free blocks below `end`, sorted by address, never adjacent (merged). */
  private free: { at: number; bytes: number }[] = [];
  /** Size of each allocated block by address. */
  private readonly used = new Map<number, number>();
  /** One past the highest byte handed out (or skipped). */
  end: number;
  /** Nothing below this is handed out again (see `skipTo`). */
  private floor = 0;

  constructor(start: number) {
    this.end = Math.ceil(start / ALIGN) * ALIGN;
  }

  /** Bytes currently handed out. */
  get allocated(): number {
    let sum = 0;
    for (const b of this.used.values()) sum += b;
    return sum;
  }

  /** Reserve `bytes` (rounded up to whole cache lines); returns the block's address. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.bytes < size) continue;
      const at = f.at;
      if (f.bytes === size) this.free.splice(i, 1);
      else {
        f.at += size;
        f.bytes -= size;
      }
      this.used.set(at, size);
      return at;
    }
    const at = this.end;
    this.end += size;
    this.used.set(at, size);
    return at;
  }

  /** Give back the block at `at` (allocated by `alloc`); unknown addresses are ignored. */
  release(at: number): void {
    const size = this.used.get(at);
    if (size === undefined) return;
    this.used.delete(at);
    if (at < this.floor) return;
    let block = { at, bytes: size };
    // Insert in address order, merging with the free neighbours on either side.
    let i = 0;
    while (i < this.free.length && this.free[i].at < at) i++;
    const before = this.free[i - 1];
    if (before && before.at + before.bytes === at) {
      before.bytes += size;
      block = before;
      i--;
    } else this.free.splice(i, 0, block);
    const after = this.free[i + 1];
    if (after && block.at + block.bytes === after.at) {
      block.bytes += after.bytes;
      this.free.splice(i + 1, 1);
    }
    // A free block at the top lowers the top.
    const last = this.free[this.free.length - 1];
    if (last && last.at + last.bytes === this.end) {
      this.end = last.at;
      this.free.pop();
    }
  }

  /** Never hand out anything below `address` again (blocks already there stay valid). */
  skipTo(address: number): void {
    const to = Math.ceil(address / ALIGN) * ALIGN;
    this.floor = Math.max(this.floor, to);
    this.free = this.free.filter((f) => f.at >= to);
    if (to > this.end) this.end = to;
  }
}
