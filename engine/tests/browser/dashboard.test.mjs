// The dashboard in headless Chromium against the real daemon seeded with 60 days of imported
// traffic: assets, sign-in, headline numbers against the summary API, range picker, filters, the
// live panel, and screenshots (desktop and phone, light and dark) into $SCREENSHOT_DIR.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { skipReason, launch, startDaemon, track, waitFor, AGENTS, REPO } from './harness.mjs'

// Relative SCREENSHOT_DIR values are taken from the repository root (docs/screenshots refreshes the docs).
const SHOTS = resolve(REPO, process.env.SCREENSHOT_DIR || 'engine/tests/browser/artifacts')
let daemon
let browser
let summaryAvailable = false

before(async () => {
  if (skipReason) return
  daemon = await startDaemon()
  browser = await launch()
  const probe = await fetch(`${daemon.url}/api/v1/analytics/summary?site=demo&from=2026-01-01&to=2026-01-01`, {
    headers: { authorization: `Bearer ${daemon.keys.read_key}` },
  })
  summaryAvailable = probe.status !== 404
  if (!summaryAvailable) console.log('# GET /api/v1/analytics/summary is not served by this daemon: summary checks are skipped')
})

after(async () => {
  await browser?.close()
  await daemon?.stop()
})

const utcDate = (offsetDays = 0) => new Date(Date.now() - offsetDays * 86_400_000).toISOString().slice(0, 10)

async function summary(from, to, filters = {}) {
  const params = new URLSearchParams({ site: 'demo', from, to, ...filters })
  const r = await fetch(`${daemon.url}/api/v1/analytics/summary?${params}`, { headers: { authorization: `Bearer ${daemon.keys.read_key}` } })
  assert.equal(r.status, 200, await r.clone().text())
  return r.json()
}

/** A fresh context signed in to `demo` (through the form), with page errors collected. */
async function signedIn(options = {}) {
  const context = await browser.newContext(options)
  await context.route(url => !url.href.startsWith(daemon.url), route => route.abort())
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', e => errors.push(e))
  await page.goto(`${daemon.url}/`)
  await page.fill('#site-input', 'demo')
  await page.fill('#key-input', daemon.keys.read_key)
  const started = Date.now()
  await page.click('button[type=submit]')
  await page.waitForSelector('#dashboard:not([hidden])')
  await page.waitForFunction(() => document.body.dataset.loaded)
  return { context, page, errors, renderMs: Date.now() - started }
}

const cardText = (page, metric) => page.textContent(`.card[data-metric=${metric}] .value`)
const asNumber = text => Number(text.replace(/[^0-9.]/g, ''))

test('the page and its assets are under 100 KB, typed, and revalidated by ETag', { skip: skipReason }, async () => {
  let total = 0
  for (const [path, type] of [
    ['/', 'text/html'],
    ['/dashboard/app.js', 'text/javascript'],
    ['/dashboard/chart.js', 'text/javascript'],
    ['/dashboard/style.css', 'text/css'],
    ['/dashboard/favicon.svg', 'image/svg+xml'],
  ]) {
    const r = await fetch(daemon.url + path)
    assert.equal(r.status, 200, path)
    assert.ok(r.headers.get('content-type').startsWith(type), `${path}: ${r.headers.get('content-type')}`)
    assert.equal(r.headers.get('cache-control'), 'no-cache')
    total += (await r.arrayBuffer()).byteLength
    const again = await fetch(daemon.url + path, { headers: { 'if-none-match': r.headers.get('etag') } })
    assert.equal(again.status, 304, path)
  }
  assert.ok(total < 100 * 1024, `dashboard is ${total} bytes`)
  assert.equal((await fetch(`${daemon.url}/dashboard/nope.js`)).status, 404)
})

test('a wrong key is refused; the right one opens the dashboard and survives a reload', { skip: skipReason }, async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${daemon.url}/`)
  await page.fill('#site-input', 'demo')
  await page.fill('#key-input', 'not-the-key')
  await page.click('button[type=submit]')
  await waitFor(async () => (await page.textContent('#sign-in-error')).includes('do not match'), 'sign-in error')
  assert.ok(await page.isHidden('#dashboard'))
  await page.fill('#key-input', daemon.keys.read_key)
  await page.click('button[type=submit]')
  await page.waitForSelector('#dashboard:not([hidden])')
  await page.reload()
  await page.waitForSelector('#dashboard:not([hidden])')
  assert.equal(await page.textContent('#site-name'), 'demo')
  await page.click('#sign-out')
  await page.waitForSelector('#sign-in:not([hidden])')
  assert.equal(await page.evaluate(() => sessionStorage.length), 0)
  await context.close()
})

test('headline numbers equal the summary API for the last 30 days', { skip: skipReason }, async t => {
  if (!summaryAvailable) return t.skip('the daemon has no summary API yet')
  const { context, page, errors, renderMs } = await signedIn()
  console.log(`# sign-in to rendered 30-day summary: ${renderMs} ms`)
  assert.ok(renderMs < 1000, `first render took ${renderMs} ms`)
  const expected = await page.evaluate(async s => (await import('/dashboard/app.js')).normalize(s), await summary(utcDate(29), utcDate(0)))
  assert.ok(expected.visitors > 0, 'seeded data is visible in the summary')
  assert.equal(asNumber(await cardText(page, 'visitors')), expected.visitors)
  assert.equal(asNumber(await cardText(page, 'pageviews')), expected.pageviews)
  // revenue is shown with cents below $100,000 and in whole dollars above
  assert.ok(Math.abs(asNumber(await cardText(page, 'revenue')) - expected.revenue) <= 0.5)
  assert.ok(Math.abs(asNumber(await cardText(page, 'bounce_rate')) - expected.bounce_rate * 100) <= 0.5)
  assert.ok(Math.abs(asNumber(await cardText(page, 'conversion_rate')) - expected.conversion_rate * 100) <= 0.5)
  const firstPage = await page.textContent('[data-list=pages] li:first-child .key')
  assert.equal(firstPage, expected.lists.pages[0].key)
  assert.ok((await page.$$('#chart svg path.line')).length >= 1)
  assert.deepEqual(errors, [])
  await context.close()
})

test('changing the range asks the summary API for that range', { skip: skipReason }, async () => {
  const { context, page, errors } = await signedIn()
  const request = page.waitForRequest(r => r.url().includes('/summary?') && r.url().includes(`from=${utcDate(6)}`))
  await page.selectOption('#range-select', '7d')
  await request
  await page.waitForFunction(() => !document.body.classList.contains('loading'))
  assert.match(page.url(), /range=7d/)
  if (summaryAvailable) {
    const expected = await summary(utcDate(6), utcDate(0))
    const visitors = await page.evaluate(async s => (await import('/dashboard/app.js')).normalize(s).visitors, expected)
    await waitFor(async () => asNumber(await cardText(page, 'visitors')) === visitors, '7-day visitors')
  }
  // custom range
  await page.selectOption('#range-select', 'custom')
  await page.fill('#from-input', utcDate(3))
  await page.fill('#to-input', utcDate(1))
  const custom = page.waitForRequest(r => r.url().includes(`from=${utcDate(3)}&to=${utcDate(1)}`))
  await page.click('#apply-range')
  await custom
  assert.deepEqual(errors, [])
  await context.close()
})

test('clicking a row filters the whole page by it', { skip: skipReason }, async t => {
  if (!summaryAvailable) return t.skip('the daemon has no summary API yet: there are no rows to click')
  const { context, page, errors } = await signedIn()
  const row = page.locator('[data-list=devices] button.row').first()
  const device = await row.locator('.key').textContent()
  const request = page.waitForRequest(r => r.url().includes(`device=${encodeURIComponent(device)}`))
  await row.click()
  await request
  await page.waitForSelector('#filters .chip')
  assert.match(await page.textContent('#filters'), new RegExp(`Device is ${device}`))
  await page.waitForFunction(() => !document.body.classList.contains('loading'))
  const filtered = await summary(utcDate(29), utcDate(0), { device })
  const visitors = await page.evaluate(async s => (await import('/dashboard/app.js')).normalize(s).visitors, filtered)
  assert.equal(asNumber(await cardText(page, 'visitors')), visitors)
  await page.click('#filters .chip')
  await waitFor(async () => (await page.$$('#filters .chip')).length === 0, 'filter removed')
  assert.deepEqual(errors, [])
  await context.close()
})

test('the live panel shows a new event within 2 s', { skip: skipReason }, async () => {
  const { context, page, errors } = await signedIn()
  await waitFor(async () => (await page.textContent('#live-status')).includes('live'), 'websocket open')
  const before = Number(await page.textContent('#live-visitors')) || 0
  const path = `/live-${Date.now()}`
  await track(daemon.url, daemon.keys.write_key, [{ type: 'pageview', url: `https://shop.example${path}` }], `${AGENTS[3]} live-test`)
  const sent = Date.now()
  await waitFor(async () => (await page.textContent('#live-pages')).includes(path), 'the new page in the live panel', 2000)
  assert.ok(Date.now() - sent <= 2000)
  assert.equal(Number(await page.textContent('#live-visitors')), before + 1)
  assert.deepEqual(errors, [])
  await context.close()
})

test('screenshots at desktop and phone widths, light and dark', { skip: skipReason }, async () => {
  mkdirSync(SHOTS, { recursive: true })
  // Some live traffic so the live panel has something to show.
  for (let i = 0; i < 12; i++) {
    const path = ['/', '/shoes', '/shoes/runner-2', '/sale', '/cart'][i % 5]
    await track(daemon.url, daemon.keys.write_key, [{ type: 'pageview', url: `https://shop.example${path}`, referrer: i % 3 ? 'https://www.google.com/' : '' }], `${AGENTS[i % AGENTS.length]} shot-${i}`)
  }
  for (const [name, options] of [
    ['dashboard-desktop', { viewport: { width: 1280, height: 900 }, colorScheme: 'light' }],
    ['dashboard-desktop-dark', { viewport: { width: 1280, height: 900 }, colorScheme: 'dark' }],
    ['dashboard-phone', { viewport: { width: 390, height: 844 }, colorScheme: 'light', deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
  ]) {
    const { context, page, errors } = await signedIn(options)
    await waitFor(async () => Number(await page.textContent('#live-visitors')) > 0, 'live visitors')
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    assert.ok(overflow <= 0, `${name}: page is ${overflow}px wider than the viewport`)
    await page.mouse.move(0, 0)
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
    assert.deepEqual(errors, [])
    await context.close()
  }
})
