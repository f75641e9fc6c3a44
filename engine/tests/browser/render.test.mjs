// How the dashboard renders a summary answer, independent of the query engine: the summary route
// is answered by the browser context with a deterministic fixture in the documented shape
// (query/src/summary.rs, docs/dashboard.md), while the page, its assets, sign-in and the live stream are the real
// daemon's. Checks formatting, change against the previous period, the chart, proportional bars,
// row filters passed as query parameters, and phone layout.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { skipReason, launch, startDaemon } from './harness.mjs'

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

const DAY = 86_400_000

/** A summary for [from, to]; the previous period (ending before today - 1 month) is smaller. */
function fixture(url) {
  const p = new URL(url).searchParams
  const from = Date.parse(`${p.get('from')}T00:00:00Z`)
  const to = Date.parse(`${p.get('to')}T00:00:00Z`)
  const days = Math.round((to - from) / DAY) + 1
  const recent = to > Date.now() - 2 * DAY
  const scale = (recent ? 1 : 0.8) * (p.get('device') ? 0.5 : 1)
  const hourly = days === 1
  const timeseries = Array.from({ length: hourly ? 24 : days }, (_, i) => ({
    bucket: hourly
      ? `${p.get('from')} ${String(i).padStart(2, '0')}:00:00`
      : new Date(from + i * DAY).toISOString().slice(0, 10),
    visitors: Math.round((100 + ((i * 37) % 50)) * scale),
    pageviews: Math.round((250 + ((i * 53) % 90)) * scale),
  }))
  const visitors = timeseries.reduce((a, d) => a + d.visitors, 0)
  const pageviews = timeseries.reduce((a, d) => a + d.pageviews, 0)
  return {
    site: p.get('site'),
    from: p.get('from'),
    to: p.get('to'),
    granularity: hourly ? 'hour' : 'day',
    totals: {
      visitors, pageviews, sessions: Math.round(visitors * 1.2), bounce_rate: recent ? 0.4 : 0.5,
      avg_session_duration_secs: 125, events: pageviews + 40, revenue_minor: Math.round(123450 * scale), orders: 17,
      conversion_rate: 0.031,
    },
    timeseries,
    top_pages: [{ key: '/', count: 900 }, { key: '/shoes', count: 450 }, { key: '/sale', count: 90 }],
    entry_pages: [{ key: '/', count: 700 }],
    referrer_sources: [{ key: 'search', count: 300 }, { key: 'direct', count: 200 }],
    utm_campaigns: [{ key: 'black-friday', count: 40 }],
    countries: [{ key: 'DE', count: 120 }],
    devices: [{ key: 'desktop', count: 600 }, { key: 'mobile', count: 300 }, { key: null, count: 20 }],
    browsers: [{ key: 'Chrome', count: 500 }],
    os: [{ key: 'Windows', count: 400 }],
  }
}

async function openWithFixture(options = {}) {
  const context = await browser.newContext(options)
  await context.route(url => !url.href.startsWith(daemon.url), route => route.abort())
  const requests = []
  await context.route(url => url.pathname === '/api/v1/analytics/summary', route => {
    requests.push(route.request().url())
    route.fulfill({ json: fixture(route.request().url()) })
  })
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', e => errors.push(e))
  await page.goto(`${daemon.url}/`)
  await page.fill('#key-input', daemon.keys.read_key)
  await page.click('button[type=submit]')
  await page.waitForFunction(() => document.body.dataset.loaded)
  return { context, page, errors, requests }
}

const card = (page, metric, part = 'value') => page.textContent(`.card[data-metric=${metric}] .${part}`)

test('cards, change against the previous period, chart and bars follow the summary', { skip: skipReason }, async () => {
  const { context, page, errors, requests } = await openWithFixture()
  const expected = fixture(requests.find(u => !u.includes('device=') && u.includes(`to=${new Date().toISOString().slice(0, 10)}`)))
  assert.equal(await card(page, 'visitors'), expected.totals.visitors.toLocaleString('en'))
  assert.equal(await card(page, 'bounce_rate'), '40%')
  assert.equal(await card(page, 'session_duration'), '2m 5s')
  assert.equal(await card(page, 'revenue'), '$1,234.50')
  assert.equal(await card(page, 'conversion_rate'), '3.1%')
  assert.equal(await card(page, 'visitors', 'change'), '↑ 25%')
  assert.match(await page.getAttribute('.card[data-metric=visitors] .change', 'class'), /up/)
  assert.equal(await card(page, 'bounce_rate', 'change'), '↓ 20%')
  assert.match(await page.getAttribute('.card[data-metric=bounce_rate] .change', 'class'), /up/, 'less bounce is good')
  assert.equal((await page.$$('#chart circle.s1')).length, 30)
  assert.match(await page.getAttribute('#chart svg', 'aria-label'), /per day/)
  const shares = await page.$$eval('[data-list=pages] .row', rows => rows.map(r => r.style.getPropertyValue('--share')))
  assert.deepEqual(shares, ['100.0%', '50.0%', '10.0%'])
  assert.equal(await page.textContent('[data-list=entry_pages] .key'), '/')
  assert.deepEqual(errors, [])
  await context.close()
})

test('today is drawn per hour, up to the current hour, with whole-number ticks', { skip: skipReason }, async () => {
  const { context, page, errors } = await openWithFixture()
  await page.selectOption('#range-select', 'today')
  await page.waitForFunction(() => document.querySelector('#chart svg')?.getAttribute('aria-label').includes('per hour'))
  const hour = new Date().getUTCHours()
  assert.equal((await page.$$('#chart circle.s1')).length, hour + 1)
  const ticks = await page.$$eval('#chart .grid text', t => t.map(e => e.textContent))
  assert.ok(ticks.includes('00:00'), ticks.join(' '))
  const scales = await page.evaluate(async () => {
    const { niceScale } = await import('/dashboard/chart.js')
    return [1, 3, 7, 130, 0].map(max => niceScale(max))
  })
  assert.deepEqual(scales, [{ top: 1, step: 1 }, { top: 3, step: 1 }, { top: 8, step: 2 }, { top: 200, step: 50 }, { top: 4, step: 1 }])
  assert.deepEqual(errors, [])
  await context.close()
})

test('a clicked row becomes a query parameter of every summary request, and a removable chip', { skip: skipReason }, async () => {
  const { context, page, errors, requests } = await openWithFixture()
  const before = requests.length
  assert.equal(await page.$$eval('[data-list=devices] button.row', b => b.length), 2, 'rows without a value are not filters')
  await page.click('[data-list=devices] button.row >> nth=1')
  await page.waitForSelector('#filters .chip')
  await page.waitForFunction(() => !document.body.classList.contains('loading'))
  const filtered = requests.slice(before)
  assert.equal(filtered.length, 2, 'current and previous period')
  assert.ok(filtered.every(u => new URL(u).searchParams.get('device') === 'mobile'), filtered.join('\n'))
  assert.equal(await page.textContent('#filters .chip'), 'Device is mobile ✕')
  assert.equal(await page.$$eval('[data-list=devices] button.row', b => b.length), 0, 'a filtered list is not clickable')
  assert.equal(await page.textContent('[data-list=devices] li:last-child .key'), '(none)')
  assert.match(page.url(), /f\.device=mobile/)
  await page.reload()
  await page.waitForSelector('#filters .chip')
  await page.click('#filters .chip')
  await page.waitForFunction(() => !document.querySelector('#filters .chip'))
  assert.equal(new URL(requests.at(-1)).searchParams.get('device'), null)
  assert.deepEqual(errors, [])
  await context.close()
})

test('the phone layout has no horizontal scrolling and stacks the cards two by two', { skip: skipReason }, async () => {
  const { context, page, errors } = await openWithFixture({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true })
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  assert.ok(overflow <= 0, `${overflow}px of horizontal overflow`)
  const tops = await page.$$eval('.card', cards => cards.map(c => Math.round(c.getBoundingClientRect().top)))
  assert.equal(new Set(tops).size, 3)
  const labelled = await page.$$eval('select, input, button', els => els.filter(e => e.offsetParent !== null).every(e => e.labels?.length || e.getAttribute('aria-label') || e.textContent.trim()))
  assert.ok(labelled, 'every visible control has a label')
  assert.deepEqual(errors, [])
  await context.close()
})
