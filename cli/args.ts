// Flags: one typed table per command drives parsing (node's util.parseArgs), validation with messages
// that name the flag, and the --help text. Strings become typed values here and nowhere else.
import { parseArgs } from 'node:util';
import { UserError } from './errors.js';

/** The value kinds a flag can take: `list` is positive integers, `names` column names, both comma-separated. */
export type FlagType = 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'names';

/** One flag of a command. */
export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly description: string;
  /** Shown in help as `--name <placeholder>`. */
  readonly placeholder?: string;
  readonly short?: string;
  /** Allowed values of a string flag. */
  readonly choices?: readonly string[];
  /** Lower bound for numbers (inclusive unless `exclusiveMin`). */
  readonly min?: number;
  readonly exclusiveMin?: boolean;
  readonly max?: number;
  /** Default shown in help (the command applies it). */
  readonly defaultText?: string;
}

/** A command: its flags, positionals and help. */
export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly flags: readonly FlagSpec[];
  readonly positionals?: readonly { name: string; description: string; required?: boolean }[];
  readonly examples?: readonly string[];
  readonly details?: string;
}

/** Parsed flag values by name, typed by the spec (numbers as numbers, lists as arrays). */
export type Flags = Record<string, string | number | boolean | number[] | string[] | undefined>;

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** The closest of `options` to `word`, if it is close enough to be a likely typo. */
export function suggest(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const dist = distance(word, o);
    if (dist < bestD) {
      bestD = dist;
      best = o;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** A plain decimal number (1, -2.5, .5, 1e-3): not hex (0x10), binary, octal, Infinity or blank. */
export function isDecimal(s: string): boolean {
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(s);
}

/** A name with its spelling undone: kebab-case and camelCase of the same words compare equal. */
function spelling(name: string): string {
  return name.replace(/[-_]/g, '').toLowerCase();
}

function convert(spec: FlagSpec, raw: string, cmd: string): number | string | number[] | string[] {
  const where = `${cmd}: --${spec.name}`;
  const num = (s: string, what: string): number => {
    const v = isDecimal(s) ? Number(s) : NaN;
    if (!Number.isFinite(v)) throw new UserError(`${where}: expected ${what}, got '${s}'`);
    if (spec.type === 'integer' && !Number.isInteger(v))
      throw new UserError(`${where}: expected an integer, got '${s}'`);
    if (spec.min !== undefined && (spec.exclusiveMin ? v <= spec.min : v < spec.min))
      throw new UserError(
        `${where}: expected a value ${spec.exclusiveMin ? '>' : '≥'} ${spec.min}, got ${s}`,
      );
    if (spec.max !== undefined && v > spec.max)
      throw new UserError(`${where}: expected a value ≤ ${spec.max}, got ${s}`);
    return v;
  };
  switch (spec.type) {
    case 'number':
      return num(raw, 'a number');
    case 'integer':
      return num(raw, 'an integer');
    case 'list': {
      const parts = raw.split(',').map((p) => p.trim());
      return parts.map((p) => {
        const v = isDecimal(p) ? Number(p) : NaN;
        if (p === '' || !Number.isInteger(v) || v < 1)
          throw new UserError(
            `${where}: expected positive integers separated by commas (e.g. 64,32), got '${raw}'`,
          );
        return v;
      });
    }
    case 'names': {
      const names = raw.split(',').map((p) => p.trim());
      if (names.some((n) => n === ''))
        throw new UserError(
          `${where}: expected column names separated by commas (e.g. age,city), got '${raw}'`,
        );
      return names;
    }
    case 'string': {
      if (!spec.choices) return raw;
      // Either spelling of a choice: 'cross-entropy' or 'crossEntropy', 'leakyRelu' or 'leaky-relu'.
      const choice = spec.choices.find((c) => spelling(c) === spelling(raw));
      if (choice !== undefined) return choice;
      const s = suggest(raw, spec.choices);
      throw new UserError(
        `${where}: expected one of ${spec.choices.join(', ')}, got '${raw}'${s ? ` (did you mean '${s}'?)` : ''}`,
      );
    }
    case 'boolean':
      return raw;
  }
}

/** Parse a command's arguments against its spec; every mistake becomes a UserError naming the flag. */
export function parseCommand(
  spec: CommandSpec,
  argv: readonly string[],
): { flags: Flags; positionals: string[]; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const f of spec.flags)
    options[f.name] = {
      type: f.type === 'boolean' ? 'boolean' : 'string',
      ...(f.short ? { short: f.short } : {}),
    };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: negativeValues(spec, argv), options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(msg);
    if (unknown) {
      const name = unknown[1].replace(/^-+/, '');
      const s = suggest(
        name,
        spec.flags.map((f) => f.name),
      );
      throw new UserError(`${spec.name}: unknown flag ${unknown[1]}${s ? ` (did you mean --${s}?)` : ''}`, {
        hint: `see 'chainrule ${spec.name} --help'`,
      });
    }
    const missing = /Option '(?:-\w, )?(--[^ ]+) <value>' argument missing/.exec(msg);
    if (missing)
      throw new UserError(`${spec.name}: ${missing[1]} needs a value`, {
        hint: `see 'chainrule ${spec.name} --help'`,
      });
    // A value that starts with a dash and is not a number ('--out -x'): parseArgs calls it ambiguous.
    const dashed = /Option '(?:-\w, )?(--[^' ]+)(?: <value>)?' argument is ambiguous/.exec(msg);
    if (dashed) {
      const short = spec.flags.find((f) => `--${f.name}` === dashed[1])?.short;
      const at = argv.findIndex((a) => a === dashed[1] || (short !== undefined && a === `-${short}`));
      const value = argv[at + 1] ?? '';
      throw new UserError(
        `${spec.name}: ${dashed[1]} needs a value, got '${value}', which looks like a flag; if it is the value, write ${dashed[1]}=${value}`,
      );
    }
    const noValue = /Option '(--[^']+)' does not take an argument/.exec(msg);
    if (noValue) throw new UserError(`${spec.name}: ${noValue[1]} takes no value`);
    throw new UserError(`${spec.name}: ${msg}`);
  }
  const flags: Flags = {};
  for (const f of spec.flags) {
    const v = parsed.values[f.name];
    if (v === undefined) continue;
    if (Array.isArray(v)) continue;
    flags[f.name] = typeof v === 'boolean' ? v : convert(f, v, spec.name);
  }
  const max = spec.positionals?.length ?? 0;
  if (parsed.positionals.length > max)
    throw new UserError(
      `${spec.name}: unexpected argument '${parsed.positionals[max]}'${max === 0 ? ' (this command takes only flags)' : ''}`,
      { hint: `see 'chainrule ${spec.name} --help'` },
    );
  return { flags, positionals: parsed.positionals, help: parsed.values.help === true };
}

/**
 * `argv` with every negative number that follows a flag taking a value attached to it (`--epochs -1` →
 * `--epochs=-1`): parseArgs would call it ambiguous, while the flag's own check has the useful message
 * (`--epochs: expected a value ≥ 1, got -1`).
 */
function negativeValues(spec: CommandSpec, argv: readonly string[]): string[] {
  const takesValue = new Map<string, string>();
  for (const f of spec.flags)
    if (f.type !== 'boolean') {
      takesValue.set(`--${f.name}`, f.name);
      if (f.short) takesValue.set(`-${f.short}`, f.name);
    }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = takesValue.get(argv[i]);
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined && /^-(?:\d|\.\d|Infinity$)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(argv[i]);
    if (argv[i] === '--') {
      out.push(...argv.slice(i + 1));
      break;
    }
  }
  return out;
}

/** The --help text of a command. */
export function helpText(spec: CommandSpec): string {
  const lines = [`${spec.summary}`, '', `Usage: ${spec.usage}`];
  if (spec.positionals?.length) {
    lines.push('', 'Arguments:');
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(26)}${p.description}`);
  }
  if (spec.flags.length) {
    lines.push('', 'Flags:');
    for (const f of spec.flags) {
      const left = `--${f.name}${f.type === 'boolean' ? '' : ` <${f.placeholder ?? f.type}>`}`;
      const extra = [
        f.choices ? `one of: ${f.choices.join(', ')}` : '',
        f.defaultText ? `default: ${f.defaultText}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      lines.push(`  ${left.padEnd(26)}${f.description}${extra ? ` (${extra})` : ''}`);
    }
    lines.push(`  ${'--help'.padEnd(26)}Show this help`);
  }
  if (spec.details) lines.push('', spec.details);
  if (spec.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n') + '\n';
}
