// Bundles src/ into dist/analytics-sdk.js (minified IIFE) and prints its gzipped size.
import { build } from 'esbuild'
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
export const OUT = root + 'dist/analytics-sdk.js'
export const BUDGET_BYTES = 2048

await build({
  entryPoints: [root + 'src/index.js'],
  outfile: OUT,
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
})
const raw = readFileSync(OUT)
const gz = gzipSync(raw, { level: 9 }).length
console.log(`dist/analytics-sdk.js: ${raw.length} bytes minified, ${gz} bytes gzipped (budget ${BUDGET_BYTES})`)
