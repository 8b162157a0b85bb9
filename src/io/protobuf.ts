/**
 * A minimal protocol-buffers writer: just what the ONNX exporter needs (varints, 32-bit floats,
 * length-delimited bytes, strings and sub-messages, packed repeated numbers). Messages are built inside
 * out: a sub-message is finished into bytes first, then written as one length-delimited field, which
 * keeps the writer a flat byte buffer with no back-patching of lengths.
 *
 * Encoding rules follow https://protobuf.dev/programming-guides/encoding/: a field starts with the
 * varint key `(field << 3) | wireType`; int64 and int32 values are varints, negative ones as their
 * 64-bit two's complement (ten bytes); fixed32 floats are four little-endian bytes.
 */

/** The wire types this writer emits. */
const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

/**
 * Builds one protobuf message. Each method appends one field (or one packed repeated field) and
 * returns the writer, so a message reads as a chain; `finish()` returns the bytes.
 */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  /** Make room for `n` more bytes. */
  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private dataView(): DataView {
    return new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /**
   * Append a varint. Integers in [0, 2⁵³) are written from the number itself; negative integers (down
   * to −2⁵³) as the unsigned 64-bit two's complement, which is how protobuf encodes a negative int64.
   */
  private varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`protobuf: ${value} is not a safe integer`);
    this.reserve(10);
    if (value < 0) {
      let v = BigInt.asUintN(64, BigInt(value));
      while (v >= 0x80n) {
        this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      this.buf[this.len++] = Number(v);
      return;
    }
    // Division rather than >>> : bit operators would cut the value to 32 bits.
    let v = value;
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  private key(field: number, wire: Wire): void {
    if (!Number.isInteger(field) || field < 1 || field >= 2 ** 29)
      throw new RangeError(`protobuf: field number ${field} is out of range`);
    this.varint(field * 8 + wire);
  }

  private raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** An int64 / int32 / enum / bool field as a varint (negative values as ten-byte two's complement). */
  int(field: number, value: number): this {
    this.key(field, Wire.Varint);
    this.varint(value);
    return this;
  }

  /** A `float` field: four little-endian bytes. */
  float(field: number, value: number): this {
    this.key(field, Wire.Fixed32);
    this.reserve(4);
    this.dataView().setFloat32(this.len, value, true);
    this.len += 4;
    return this;
  }

  /** A `double` field: eight little-endian bytes. */
  double(field: number, value: number): this {
    this.key(field, Wire.Fixed64);
    this.reserve(8);
    this.dataView().setFloat64(this.len, value, true);
    this.len += 8;
    return this;
  }

  /** A `bytes` field, or a sub-message already finished into bytes. */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, Wire.Bytes);
    this.varint(value.length);
    this.raw(value);
    return this;
  }

  /** A `string` field, UTF-8 encoded. */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** A sub-message field. */
  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** A packed repeated int64 / int32 field (proto3's default for repeated scalars). */
  packedInts(field: number, values: ArrayLike<number>): this {
    const inner = new ProtoWriter();
    for (let i = 0; i < values.length; i++) inner.varint(values[i]);
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated `float` field. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    const out = new Uint8Array(values.length * 4);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i], true);
    return this.bytes(field, out);
  }

  /** A packed repeated `double` field. */
  packedDoubles(field: number, values: ArrayLike<number>): this {
    const out = new Uint8Array(values.length * 8);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) dv.setFloat64(i * 8, values[i], true);
    return this.bytes(field, out);
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.len;
  }

  /** The message's bytes (a copy, so the writer may be reused or dropped). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
