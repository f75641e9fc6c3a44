// Bundles src/ into dist/analytics-sdk.js and prints its gzipped size. esbuild bundles and
// minifies into an IIFE; terser then minifies that once more (about 25 gzipped bytes fewer than
// esbuild alone, which the 2,048-byte budget needs). terser keeps the IIFE: nothing leaks into the
// page's global scope (no `toplevel`).
import { build } from 'esbuild'
import { minify } from 'terser'
import { readFileSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
export const OUT = root + 'dist/analytics-sdk.js'
export const BUDGET_BYTES = 2048

const bundled = await build({
  entryPoints: [root + 'src/index.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
})
const { code } = await minify(bundled.outputFiles[0].text, {
  ecma: 2020,
  compress: { passes: 2, ecma: 2020 },
  mangle: true,
  format: { comments: false },
})
writeFileSync(OUT, code)
const raw = readFileSync(OUT)
const gz = gzipSync(raw, { level: 9 }).length
console.log(`dist/analytics-sdk.js: ${raw.length} bytes minified, ${gz} bytes gzipped (budget ${BUDGET_BYTES})`)
