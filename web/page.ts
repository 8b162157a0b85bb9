// What the three playground pages share: their URL hash read and written through a table of typed fields
// (each page's state module holds its table), and saving a file the worker exported. Only `download`
// touches the DOM, and only when called, so the state modules stay usable in Node, where the tests parse
// the same URLs the pages do. esbuild bundles each page with its own copy; there is no shared chunk.

/** A URL field: how its text becomes a value (undefined when it cannot) and back. */
export interface Field<T> {
  parse(raw: string): T | undefined;
  format(value: T): string;
}

/** A page's table: one field per state key, in URL order (the compiler rejects a missing key). */
export type Fields<S> = { readonly [K in keyof S]-?: Field<S[K]> };

/** An integer in [lo, hi]. */
export function intField(lo: number, hi: number): Field<number> {
  return {
    parse: (raw) => {
      const v = Number(raw);
      return raw.trim() !== '' && Number.isInteger(v) && v >= lo && v <= hi ? v : undefined;
    },
    format: String,
  };
}

/** One of `values`, spelled exactly. */
export function oneOf<T extends string>(values: readonly T[]): Field<T> {
  return { parse: (raw) => values.find((v) => v === raw), format: (v) => v };
}

/** `true` or `false`. */
export const boolField: Field<boolean> = {
  parse: (raw) => (raw === 'true' ? true : raw === 'false' ? false : undefined),
  format: String,
};

/** A hash's parameters (with or without its '#'). */
export function hashParams(hash: string): URLSearchParams {
  return new URLSearchParams(hash.replace(/^#/, ''));
}

/**
 * Read every field `params` names into `state` (in place) through its table entry. Returns `key=raw` for
 * each value that does not parse; that field keeps what `state` held.
 */
export function readFields<S extends object>(params: URLSearchParams, fields: Fields<S>, state: S): string[] {
  const ignored: string[] = [];
  const writable = state as Record<string, unknown>;
  for (const [key, field] of Object.entries(fields) as [string, Field<unknown>][]) {
    const raw = params.get(key);
    if (raw === null) continue;
    const value = field.parse(raw);
    if (value === undefined) ignored.push(`${key}=${raw}`);
    else writable[key] = value;
  }
  return ignored;
}

/** The state as a URL hash: every field of the table in its order, except those `leaveOut` names. */
export function writeHash<S extends object>(
  fields: Fields<S>,
  state: S,
  leaveOut: (key: keyof S) => boolean = () => false,
): string {
  const params = new URLSearchParams();
  for (const [key, field] of Object.entries(fields) as [keyof S & string, Field<unknown>][])
    if (!leaveOut(key)) params.set(key, field.format(state[key]));
  return `#${params.toString()}`;
}

/** A file a page's worker exported. */
export interface ExportedFile {
  filename: string;
  data: string | Uint8Array;
  format: 'chainrule' | 'onnx';
}

/** Save an exported file: a JSON model file or ONNX bytes, through an object URL the browser downloads. */
export function download(file: ExportedFile): void {
  const type = file.format === 'onnx' ? 'application/octet-stream' : 'application/json';
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([file.data as BlobPart], { type }));
  a.download = file.filename;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later, not at once: the download may start after click() returns.
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
