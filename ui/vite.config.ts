/**
 * Builds the admin UI (ui/) into dist/ui, which the server serves at /admin/ (src/koa/admin-ui.ts)
 * and `npm pack` ships with the rest of dist. Relative asset URLs (`base: './'`), so the UI works
 * under any mount path; no inline script or style, so it runs under `default-src 'self'`.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const here = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root: here,
  base: './',
  publicDir: 'public',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // The polyfill is for browsers without <link rel=modulepreload>; every browser we test has it.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: false,
  },
})
