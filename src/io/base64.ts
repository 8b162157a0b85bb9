/**
 * Float arrays as base64 of their little-endian bytes: exact to the bit, about a third larger than the
 * raw bytes, and the same text on every host. No `Buffer` (browsers have none) and no `atob`/`btoa`
 * (they need a "binary string" built character by character); a table and typed arrays are portable and
 * fast enough for arrays of many megabytes.
 */
import type { DType } from '../tensor.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ENCODE = new Uint8Array(64);
for (let i = 0; i < 64; i++) ENCODE[i] = ALPHABET.charCodeAt(i);
/** Character code → 6-bit value, or -1 for characters outside the alphabet. */
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
const PAD = 61; // '='

/** Whether this host stores numbers little-endian (every common one does; the DataView path is the rest). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Standard base64 (RFC 4648, with `=` padding) of some bytes. */
export function bytesToBase64(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = ENCODE[v >>> 18];
    out[o++] = ENCODE[(v >>> 12) & 63];
    out[o++] = ENCODE[(v >>> 6) & 63];
    out[o++] = ENCODE[v & 63];
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
    out[o] = ENCODE[v >>> 18];
    out[o + 1] = ENCODE[(v >>> 12) & 63];
    out[o + 2] = two ? ENCODE[(v >>> 6) & 63] : PAD;
    out[o + 3] = PAD;
  }
  // The output is ASCII, so decoding it as UTF-8 is exact; TextDecoder does it natively in one call.
  return new TextDecoder().decode(out);
}

/**
 * The bytes of a standard base64 string. Rejects anything but the 64-letter alphabet and final `=`
 * padding (no whitespace, no URL-safe letters), and a length that is not a multiple of 4, which is what
 * a truncated string usually has; the message gives the position of the first bad character.
 */
export function base64ToBytes(text: string): Uint8Array {
  const len = text.length;
  if (len % 4 !== 0) throw new Error(`base64 length ${len} is not a multiple of 4 (truncated?)`);
  let pad = 0;
  if (len > 0 && text.charCodeAt(len - 1) === PAD) pad = text.charCodeAt(len - 2) === PAD ? 2 : 1;
  const out = new Uint8Array((len / 4) * 3 - pad);
  const bad = (pos: number): never => {
    throw new Error(`invalid base64 character ${JSON.stringify(text[pos])} at position ${pos}`);
  };
  const value = (pos: number): number => {
    const c = text.charCodeAt(pos);
    const v = c < 128 ? DECODE[c] : -1;
    return v < 0 ? bad(pos) : v;
  };
  let o = 0;
  const full = len - (pad > 0 ? 4 : 0);
  for (let i = 0; i < full; i += 4) {
    const v = (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6) | value(i + 3);
    out[o++] = v >>> 16;
    out[o++] = (v >>> 8) & 255;
    out[o++] = v & 255;
  }
  if (pad > 0) {
    const i = full;
    const v = (value(i) << 18) | (value(i + 1) << 12) | (pad === 1 ? value(i + 2) << 6 : 0);
    out[o] = v >>> 16;
    if (pad === 1) out[o + 1] = (v >>> 8) & 255;
  }
  return out;
}

/** Bytes per element of a dtype. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

/**
 * The little-endian bytes of a float array (a view of it on little-endian hosts, a copy otherwise).
 * `viaDataView` forces the byte-by-byte path big-endian hosts take, so tests can check it anywhere.
 */
export function floatsToBytes(a: Float32Array | Float64Array, viaDataView = !LITTLE_ENDIAN): Uint8Array {
  if (!viaDataView) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const view = new DataView(out.buffer);
  if (a instanceof Float64Array) for (let i = 0; i < a.length; i++) view.setFloat64(i * 8, a[i], true);
  else for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i], true);
  return out;
}

/**
 * A float array of `dtype` from little-endian bytes. The byte count must be a whole number of elements;
 * callers that know how many elements to expect should compare lengths first for a better message.
 * `viaDataView` forces the path big-endian hosts take, as in `floatsToBytes`.
 */
export function bytesToFloats(
  bytes: Uint8Array,
  dtype: DType,
  viaDataView = !LITTLE_ENDIAN,
): Float32Array | Float64Array {
  const size = bytesPerElement(dtype);
  if (bytes.length % size !== 0)
    throw new Error(`${bytes.length} bytes are not a whole number of ${dtype} values (${size} bytes each)`);
  const n = bytes.length / size;
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  if (!viaDataView) {
    // A byte copy, not a view: `bytes` need not be aligned to the element size.
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (out instanceof Float64Array) for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
  else for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Base64 of a float array's little-endian bytes: every bit kept, NaN payloads and −0 included. */
export function encodeFloats(a: Float32Array | Float64Array): string {
  return bytesToBase64(floatsToBytes(a));
}

/** The float array of `dtype` that `encodeFloats` encoded; throws on bad base64 or a partial element. */
export function decodeFloats(text: string, dtype: DType): Float32Array | Float64Array {
  return bytesToFloats(base64ToBytes(text), dtype);
}
