// A small document model for the teaching views: the explanation is built once as blocks, then
// rendered for a terminal (plain text, lines of at most 100 characters) or as Markdown for docs.

/** One piece of an explanation. */
export type Block =
  | { kind: 'title'; text: string }
  | { kind: 'heading'; text: string }
  | { kind: 'para'; text: string }
  /** Preformatted lines (equations): indented in text, a code block in Markdown. */
  | { kind: 'lines'; lines: string[] }
  | { kind: 'table'; header: string[]; rows: string[][] };

/** The widest a text line may be. */
export const WIDTH = 100;
/** Preformatted lines are indented by two spaces in text, so their content may use this much. */
export const LINE_WIDTH = WIDTH - 2;

/** Text without the backticks that mark code spans (a terminal shows them as they are). */
const plain = (text: string): string => text.replace(/`([^`]*)`/g, '$1');

/**
 * Words of `text` filled into lines of at most `width` characters (a longer word stands alone). A
 * `code span` is never broken, so a formula stays on one line.
 */
export function wrap(text: string, width = WIDTH, indent = ''): string[] {
  // Words are split at spaces outside code spans.
  const words: string[] = [];
  let word = '';
  let code = false;
  for (const ch of text) {
    if (ch === '`') code = !code;
    if (ch === ' ' && !code) {
      if (word) words.push(word);
      word = '';
    } else word += ch;
  }
  if (word) words.push(word);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && plain(line).length + 1 + plain(w).length > width) {
      lines.push(line);
      line = indent + w;
    } else line = line ? `${line} ${w}` : indent + w;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * `lhs = a = b = c`, one line when it fits (and `split` is not set), else each `= …` on its own line
 * under the first; a part still too long is broken after its ` * `, ` + ` or `, ` separators.
 */
export function equation(
  lhs: string,
  parts: string[],
  options: { width?: number; split?: boolean } = {},
): string[] {
  const width = options.width ?? LINE_WIDTH;
  const one = `${lhs} = ${parts.join(' = ')}`;
  if (one.length <= width && !options.split) return [one];
  const pad = ' '.repeat(Math.min(lhs.length, 40));
  const out: string[] = [];
  parts.forEach((part, n) => {
    const head = n === 0 ? `${lhs} = ` : `${pad} = `;
    out.push(...breakLong(head + part, width, ' '.repeat(head.length + 2)));
  });
  return out;
}

function breakLong(line: string, width: number, indent: string): string[] {
  if (line.length <= width) return [line];
  const out: string[] = [];
  let rest = line;
  while (rest.length > width) {
    // The last separator that keeps the line within the width.
    let cut = -1;
    for (const sep of [' * ', ' + ', ', ']) {
      const at = rest.lastIndexOf(sep, width - sep.length);
      if (at > indent.length && at > cut) cut = at + sep.length - 1;
    }
    if (cut <= 0) break;
    out.push(rest.slice(0, cut).trimEnd());
    rest = indent + rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}

/**
 * Rows of cells as aligned columns (the first row is the header when there is one); `gaps[i]` goes after
 * column i (default two spaces).
 */
export function columns(rows: string[][], gaps: string[] = []): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]) + (gaps[i] ?? '  ')))
      .join('')
      .trimEnd(),
  );
}

/** The blocks as terminal text; headings are numbered. */
export function renderText(blocks: Block[]): string {
  const out: string[] = [];
  let section = 0;
  for (const b of blocks) {
    switch (b.kind) {
      case 'title':
        out.push(...wrap(plain(b.text)), '='.repeat(Math.min(WIDTH, plain(b.text).length)), '');
        break;
      case 'heading':
        out.push(`${++section}. ${plain(b.text)}`, '');
        break;
      case 'para':
        out.push(...wrap(b.text).map(plain), '');
        break;
      case 'lines':
        out.push(...b.lines.map((l) => (l ? `  ${l}` : '')), '');
        break;
      case 'table': {
        const lines = columns([b.header, ...b.rows].map((r) => r.map(plain)));
        const rule = '-'.repeat(Math.min(LINE_WIDTH, Math.max(...lines.map((l) => l.length))));
        out.push(`  ${lines[0]}`, `  ${rule}`, ...lines.slice(1).map((l) => `  ${l}`), '');
        break;
      }
      default:
        b satisfies never;
    }
  }
  while (out.at(-1) === '') out.pop();
  return out.join('\n') + '\n';
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The blocks as Markdown: numbered `##` headings, equations in `text` code blocks, pipe tables. */
export function renderMarkdown(blocks: Block[]): string {
  const out: string[] = [];
  let section = 0;
  for (const b of blocks) {
    switch (b.kind) {
      case 'title':
        out.push(`# ${b.text}`, '');
        break;
      case 'heading':
        out.push(`## ${++section}. ${b.text}`, '');
        break;
      case 'para':
        out.push(b.text, '');
        break;
      case 'lines':
        out.push('```text', ...b.lines, '```', '');
        break;
      case 'table':
        out.push(
          `| ${b.header.map(cell).join(' | ')} |`,
          `| ${b.header.map(() => '---').join(' | ')} |`,
          ...b.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
          '',
        );
        break;
      default:
        b satisfies never;
    }
  }
  while (out.at(-1) === '') out.pop();
  return out.join('\n') + '\n';
}
