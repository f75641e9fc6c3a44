// The size budget: the built script, minified and gzipped, stays at or under 2,048 bytes.
// `npm test` builds first; this test fails when dist/ is missing or over budget.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const BUDGET_BYTES = 2048
const file = new URL('../../dist/analytics-sdk.js', import.meta.url)

test(`dist/analytics-sdk.js is at most ${BUDGET_BYTES} bytes gzipped`, () => {
  const raw = readFileSync(file)
  const gz = gzipSync(raw, { level: 9 }).length
  assert.ok(gz <= BUDGET_BYTES, `${gz} bytes gzipped is over the ${BUDGET_BYTES}-byte budget`)
  assert.ok(raw.length > 1000, 'the bundle is suspiciously small')
})

test('the bundle is a self-contained IIFE without imports or source maps', () => {
  const src = readFileSync(file, 'utf8')
  assert.match(src, /^\(\(\)=>\{/)
  assert.doesNotMatch(src, /\bimport\b|\brequire\(|sourceMappingURL/)
})
