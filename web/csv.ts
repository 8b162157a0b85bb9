// Bring your own data: a CSV file, picked or dropped, becomes a table (the library's parseCsv, the same
// reader as the command line's); the user picks two numeric columns as x₁ and x₂ and a label column. The
// last file is kept for the tab's session, so reloading a link to a CSV run finds its data again.
import { isNumeric, parseCsv, playground, type Table } from './lib.js';

const STORAGE_KEY = 'chainrule-playground-csv';

/** A loaded CSV and the columns in use. */
export interface CsvChoice {
  table: Table;
  columns: playground.CsvColumns;
}

/** What the CSV controls tell the page. */
export interface CsvEvents {
  /** A file was read, or the columns changed. */
  chosen(choice: CsvChoice): void;
  error(message: string): void;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The CSV controls: the pick button, the hidden file input, page-wide drop, and the column selects. */
export class CsvPanel {
  table: Table | null = null;
  private readonly selects = {
    x1: byId<HTMLSelectElement>('csvX1'),
    x2: byId<HTMLSelectElement>('csvX2'),
    label: byId<HTMLSelectElement>('csvLabel'),
  };

  constructor(private readonly events: CsvEvents) {
    const input = byId<HTMLInputElement>('csv-file');
    byId('csv-pick').addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      if (file) void this.readFile(file);
      input.value = '';
    });
    document.addEventListener('dragover', (e) => e.preventDefault());
    document.addEventListener('drop', (e) => {
      e.preventDefault();
      const file = e.dataTransfer?.files[0];
      if (file) void this.readFile(file);
    });
    for (const select of Object.values(this.selects)) select.addEventListener('change', () => this.emit());
  }

  private async readFile(file: File): Promise<void> {
    try {
      this.load(await file.text(), file.name, null);
    } catch (e) {
      this.events.error((e as Error).message);
    }
  }

  /** Read CSV text; `columns` picks the columns (default: the first two numeric ones and the last other). */
  load(text: string, name: string, columns: playground.CsvColumns | null): void {
    const table = parseCsv(text, name);
    const numeric = table.columns.filter(isNumeric);
    if (numeric.length < 2)
      throw new Error(`${name}: needs two numeric columns for x₁ and x₂, has ${numeric.length}`);
    const names = table.columns.map((c) => c.name);
    const chosen =
      columns && [columns.x1, columns.x2, columns.label].every((c) => names.includes(c)) ? columns : null;
    const x1 = chosen?.x1 ?? numeric[0].name;
    const x2 = chosen?.x2 ?? numeric[1].name;
    const label =
      chosen?.label ?? [...names].reverse().find((n) => n !== x1 && n !== x2) ?? names[names.length - 1];
    this.table = table;
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ name, text }));
    } catch {
      // Too big for the session store: the run works, only a reload will not find the file.
    }
    const fill = (select: HTMLSelectElement, list: string[], value: string) => {
      select.replaceChildren(...list.map((n) => new Option(n, n)));
      select.value = value;
    };
    fill(
      this.selects.x1,
      numeric.map((c) => c.name),
      x1,
    );
    fill(
      this.selects.x2,
      numeric.map((c) => c.name),
      x2,
    );
    fill(this.selects.label, names, label);
    byId('csv-columns').hidden = false;
    byId<HTMLElement>('csv-info').textContent = `${name}: ${table.numRows} rows`;
    this.emit();
  }

  /** Load the file kept for this session, if any, with the columns of a restored state. */
  restore(columns: playground.CsvColumns): boolean {
    let saved: { name: string; text: string } | null;
    try {
      saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as {
        name: string;
        text: string;
      } | null;
    } catch {
      saved = null;
    }
    if (saved === null) return false;
    try {
      this.load(saved.text, saved.name, columns);
      return true;
    } catch {
      return false;
    }
  }

  private emit(): void {
    if (!this.table) return;
    const s = this.selects;
    this.events.chosen({
      table: this.table,
      columns: { x1: s.x1.value, x2: s.x2.value, label: s.label.value },
    });
  }
}
