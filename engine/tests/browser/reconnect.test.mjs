// The live panel reconnects on its own: the daemon is stopped (streams get `1001 going away`) and
// started again on the same address; the panel says it is reconnecting, then shows live figures
// from the new process without a reload.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { skipReason, launch, startDaemon, track, waitFor, AGENTS } from './harness.mjs'

let daemon
let browser

before(async () => {
  if (skipReason) return
  daemon = await startDaemon()
  browser = await launch()
})

after(async () => {
  await browser?.close()
  await daemon?.stop()
})

test('the live panel reconnects after the daemon restarts', { skip: skipReason }, async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', e => errors.push(e))
  await page.goto(`${daemon.url}/`)
  await page.fill('#key-input', daemon.keys.read_key)
  await page.click('button[type=submit]')
  const status = () => page.textContent('#live-status')
  await waitFor(async () => (await status()) === 'live', 'websocket open')
  // Record every status the panel shows from here on.
  await page.evaluate(() => {
    window.statuses = []
    const node = document.getElementById('live-status')
    new MutationObserver(() => window.statuses.push(node.textContent)).observe(node, { childList: true, characterData: true, subtree: true })
  })

  await daemon.restart()
  // Backoff starts at about 1 s and doubles; the daemon is back, so a few seconds suffice.
  await waitFor(async () => (await status()) === 'live', 'live again', 15_000)
  const path = `/after-restart-${Date.now()}`
  await track(daemon.url, daemon.keys.write_key, [{ type: 'pageview', url: `https://shop.example${path}` }], `${AGENTS[1]} reconnect`)
  await waitFor(async () => (await page.textContent('#live-pages')).includes(path), 'an event after the restart', 3000)
  const statuses = await page.evaluate(() => window.statuses)
  assert.ok(statuses.some(s => s.startsWith('reconnecting in')), statuses.join(', '))
  assert.deepEqual(errors, [])
  await context.close()
})
