// Lint rules: typescript-eslint's recommended set on top of ESLint's; Prettier owns formatting.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** A relative module path into src/ that is not the public entry src/index.js. */
const SHELL_DEEP_IMPORT = '^(\\.{1,2}/)+src/(?!index\\.js$)';
const SHELL_BOUNDARY =
  'the shells use the library only through its public entry src/index.ts; export the name there';

export default tseslint.config(
  // .scratch/ is each engineer's git-ignored scratch space.
  { ignores: ['dist/', 'node_modules/', '.scratch/', 'docs/api/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', performance: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // The shell boundary (ARCHITECTURE.md): cli/, web/, bench/ and examples/ reach the library only through
  // src/index.ts, so what they need is public and documented. A relative path into src/ other than
  // src/index.js fails — in imports, `export … from` and `import()`. Tests may import internals.
  {
    files: ['cli/**', 'web/**', 'bench/**', 'examples/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: SHELL_DEEP_IMPORT, message: SHELL_BOUNDARY }],
        },
      ],
      'no-restricted-syntax': [
        'error',
        // esquery's regex literals cannot hold a '/', hence \x2F.
        {
          selector: `ImportExpression[source.value=/${SHELL_DEEP_IMPORT.replaceAll('/', '\\x2F')}/]`,
          message: SHELL_BOUNDARY,
        },
      ],
    },
  },
);
