import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.demo/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-control-regex': 'off',
    },
  },
  {
    // DESIGN.md "Layout": only main.ts, deps.ts and io.ts touch process; everything else receives Deps.
    files: ['src/**/*.ts'],
    ignores: ['src/main.ts', 'src/deps.ts', 'src/io.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-globals': ['error', { name: 'process', message: 'only main.ts, deps.ts and io.ts touch process; take what you need from Deps.' }],
      'no-restricted-imports': ['error', { paths: [
        { name: 'node:process', message: 'only main.ts, deps.ts and io.ts touch process; take what you need from Deps.' },
        { name: 'process', message: 'only main.ts, deps.ts and io.ts touch process; take what you need from Deps.' },
      ] }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', performance: 'readonly', URL: 'readonly', setTimeout: 'readonly' } },
  },
);
