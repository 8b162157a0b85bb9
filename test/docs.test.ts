// Every public export carries a TSDoc comment, checked through the TypeScript compiler's own view of
// src/index.ts (namespaces such as `nn` and `optim` are walked too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

test('every public export has a TSDoc comment', () => {
  const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  assert.ok(source);
  const missing: string[] = [];
  const visit = (moduleSymbol: ts.Symbol, prefix: string, depth: number) => {
    for (const exp of checker.getExportsOfModule(moduleSymbol)) {
      const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const name = prefix + exp.getName();
      if (sym.flags & ts.SymbolFlags.ValueModule && depth < 2) {
        visit(sym, `${name}.`, depth + 1);
        continue;
      }
      const doc = ts.displayPartsToString(sym.getDocumentationComment(checker)).trim();
      if (!doc) missing.push(name);
    }
  };
  visit(checker.getSymbolAtLocation(source)!, '', 0);
  assert.deepEqual(missing, [], `exports without a TSDoc comment: ${missing.join(', ')}`);
});
