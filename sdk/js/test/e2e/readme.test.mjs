// The issue's "Done when", as a new user would try it: the script tag from the README, pasted into
// a plain HTML page served locally, with the script served by the real daemon itself (embedded in
// its binary). Pageviews, clicks, scrolls, vitals and a test purchase must then appear in the
// daemon's summary and realtime endpoints (and, field by field, in the query endpoint).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { startServer } from './server.mjs'
import { skipReason, launch, openPage, waitFor, startDaemon } from './harness.mjs'

const skip = skipReason
if (skip) console.log(`# ${skip}`)
const README = new URL('../../../../README.md', import.meta.url)
const DIST = new URL('../../dist/analytics-sdk.js', import.meta.url)

let daemon
let server
let browser
before(async () => {
  if (skip) return
  daemon = await startDaemon()
  server = await startServer(daemon.url)
  browser = await launch()
})
after(async () => {
  await browser?.close()
  await server?.close()
  await daemon?.stop()
})

/** The first html code block of the README's "### Tracker" section. */
function readmeSnippet() {
  const text = readFileSync(README, 'utf8')
  const section = text.slice(text.indexOf('\n### Tracker\n'))
  const m = section.match(/```html\n([\s\S]*?)```/)
  assert.ok(m, 'README.md has a "### Tracker" section with an html block')
  return m[1]
}

test("the README's script tag on a plain page: pageviews, clicks, scrolls, vitals and a purchase reach summary and realtime", { skip }, async () => {
  // The daemon serves the tracker this checkout builds (a stale binary would test an old script).
  const served = await (await fetch(`${daemon.url}/analytics-sdk.js`)).text()
  assert.equal(served, readFileSync(DIST, 'utf8'), 'the daemon embeds sdk/js/dist/analytics-sdk.js: rebuild it (cargo build -p ecomdash-engine)')

  const site = await daemon.addSite('plain.example')
  const snippet = readmeSnippet()
  assert.ok(snippet.includes('http://127.0.0.1:8000') && snippet.includes('WRITE_KEY'), snippet)
  const tag = snippet.replaceAll('http://127.0.0.1:8000', daemon.url).replace('WRITE_KEY', site.write_key)
  server.setPage(
    '/plain.html',
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>My plain shop</title>
${tag}
</head>
<body>
<h1>My plain shop</h1>
<p>Cool Shoes, 19.99 USD</p>
<button id="buy" onclick="ecomDashAnalytics.trackEcommerce('purchase', { order_id: 'test-order-1', order_value: 19.99, order_currency: 'USD' })">Buy</button>
<div style="height: 3000px"></div>
<p>The end</p>
</body>
</html>`
  )

  const { page, context } = await openPage(browser, [server.origin, daemon.url])
  const pageErrors = []
  page.on('pageerror', e => pageErrors.push(e))
  await page.goto(`${server.origin}/plain.html`)
  await page.waitForFunction(() => typeof window.ecomDashAnalytics?.trackEcommerce === 'function')
  const shownAt = Date.now() // the tracker counts visible time from when it started
  await page.click('#buy')
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight))
  await page.evaluate(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))))
  // Over a second on the page, so its engagement time is reported too.
  await page.waitForTimeout(Math.max(0, 1500 - (Date.now() - shownAt)))
  await page.goto('about:blank') // leaving: scroll depth, engagement and vitals go by beacon

  // The context stays open until the beacon has arrived: closing it could cancel the request.
  const rows = await waitFor(async () => {
    const r = await daemon.query(
      site,
      'SELECT type, name, path, selector, scroll_depth, lcp, ttfb, revenue, currency, order_id, engagement_ms, is_bot FROM events ORDER BY ts'
    )
    return r.length >= 6 && r
  }, 'six events in the store', 15e3).catch(async e => {
    throw new Error(`${e.message}: ${JSON.stringify(await daemon.query(site, 'SELECT type, name FROM events'))}`)
  })
  await context.close()
  assert.deepEqual(rows.map(r => `${r.type}:${r.name}`).sort(), [
    'click:click', 'ecommerce:purchase', 'engagement:engagement', 'pageview:pageview', 'scroll:scroll', 'web_vital:web_vital',
  ])
  const by = type => rows.find(r => r.type === type)
  assert.ok(rows.every(r => r.path === '/plain.html' && r.is_bot === false), JSON.stringify(rows))
  assert.equal(by('click').selector, 'button#buy')
  assert.equal(by('scroll').scroll_depth, 100)
  assert.ok(by('web_vital').lcp > 0 && by('web_vital').ttfb >= 0, JSON.stringify(by('web_vital')))
  assert.deepEqual([by('ecommerce').revenue, by('ecommerce').currency, by('ecommerce').order_id], [1999, 'USD', 'test-order-1'])

  // The summary of today (and yesterday, should the test run across midnight UTC).
  const day = ms => new Date(ms).toISOString().slice(0, 10)
  const q = `site=${site.domain}&from=${day(Date.now() - 864e5)}&to=${day(Date.now())}`
  const summary = await daemon.read(site, `/api/v1/analytics/summary?${q}`)
  assert.deepEqual(
    { ...summary.totals, bounce_rate: 0, avg_session_duration_secs: 0, sessions: 0, conversion_rate: 0 },
    { visitors: 1, pageviews: 1, events: 6, revenue_minor: 1999, orders: 1, bounce_rate: 0, avg_session_duration_secs: 0, sessions: 0, conversion_rate: 0 },
    JSON.stringify(summary.totals)
  )
  assert.deepEqual(summary.top_pages, [{ key: '/plain.html', count: 1 }])
  assert.equal(summary.timeseries.reduce((n, p) => n + p.pageviews, 0), 1)

  // Realtime: live figures of the last minutes (all six events, one pageview, one visitor).
  const live = await waitFor(async () => {
    const r = await daemon.read(site, `/api/v1/analytics/realtime?site=${site.domain}`)
    return r.events_last_30m >= 6 && r
  }, 'the realtime figures', 15e3).catch(async e => {
    throw new Error(`${e.message}: ${JSON.stringify(await daemon.read(site, `/api/v1/analytics/realtime?site=${site.domain}`))}`)
  })
  assert.equal(live.events_last_30m, 6)
  assert.equal(live.visitors_last_5m, 1)
  assert.equal(live.pageviews_per_minute.reduce((n, p) => n + p.pageviews, 0), 1)
  assert.deepEqual(live.top_pages, [{ key: '/plain.html', count: 1 }])
  assert.deepEqual(pageErrors, [])
})
