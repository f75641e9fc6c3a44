// End-to-end: the built tracker in real headless Chromium on the shop fixture, against the real
// daemon (through the fixture server, which records the wire). Every test has its own site, and
// asserts through the daemon's query endpoint that exactly the expected events were stored, with
// the expected fields, once each, and that no PII left the browser.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, BATCH_PATH } from './server.mjs'
import { skipReason, launch, openPage, waitFor, startDaemon } from './harness.mjs'

const skip = skipReason
if (skip) console.log(`# ${skip}`)

let daemon
let server
let browser
// Every uncaught exception seen on any page of the suite.
const pageErrors = []
// Things typed into the fixture or put in its URLs that must never reach the server.
// (Digit-only needles are long: event ids are random digits.)
const PII = ['jane.doe', 'example.com', '4111 1111', '4111111111111111', 's3cret', 'Jane Doe', 'Jane+Doe']
// The stored columns the tests look at (DESIGN.md "Stored columns").
const COLUMNS =
  'ts, type, name, event_id, visitor_id, user_id, hostname, path, referrer_host, utm_source, screen_w, screen_h, lang, ' +
  'revenue, currency, order_id, product_id, props, lcp, inp, cls, ttfb, click_x, click_y, selector, scroll_depth, ' +
  'engagement_ms, error_message'

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
// A closed page may still deliver its page-hide beacon: let the intake go quiet before a test.
beforeEach(async () => {
  if (!server) return
  await waitFor(() => server.quietMs() > 400, 'a quiet intake', 5000)
  server.reset()
})

let sites = 0
let site // the current test's site: {domain, write_key, read_key}
/** A new site for the test (its events are apart from every other test's), and its script tag. */
const useSite = async (attrs = {}) => {
  site = await daemon.addSite(`t${++sites}.e2e.test`)
  server.setTracker({ 'api-key': site.write_key, ...attrs })
  return site
}

const open = async (path, options) => {
  const opened = await openPage(browser, server.origin, options)
  opened.page.on('pageerror', e => pageErrors.push(e))
  await opened.page.goto(server.origin + path)
  return opened
}
/** The current site's events as sent over the wire, in arrival order. */
const wire = () => server.batches.filter(b => b.body?.api_key === site.write_key).flatMap(b => b.body.events)
const ofType = (type, name) => wire().filter(e => e.type === type && (!name || e.name === name))
/** The wire so far, for a failure message: per batch its time, fetch mode and event types. */
const trace = () =>
  server.batches.map(b => `+${b.at - server.batches[0].at}ms ${b.fetchMode} ${b.status} ${(b.body?.events ?? []).map(e => `${e.type}:${e.name ?? ''}`)}`).join('\n')
const waitEvent = (type, name, what = `${type} ${name ?? ''}`) => waitFor(() => ofType(type, name)[0], what)
/**
 * Leaving the page hides it: the tracker reports the page and flushes with sendBeacon. Unless told
 * that nothing is to be sent, this waits until that beacon has been answered by the daemon (on a
 * loaded machine it can take a while), so what the test reads next includes it.
 */
const leave = async (page, beacon = true) => {
  const before = server.batches.length
  await page.goto('about:blank')
  if (beacon) await waitFor(() => server.batches.slice(before).some(b => b.fetchMode === 'no-cors'), 'the page-hide beacon')
}

/**
 * Waits until the intake is quiet, then returns what the daemon stored for the current site, in
 * time order. It checks on the way that the daemon accepted every event of every batch the
 * tracker sent (none rejected as invalid), and stored each accepted event exactly once.
 */
async function stored() {
  // A page-hide beacon may still be on its way when the test gets here: wait for the intake to be
  // quiet for 600 ms, counting from now at the earliest.
  const since = Date.now()
  await waitFor(() => Math.min(server.quietMs(), Date.now() - since) > 600, 'a quiet intake', 10e3)
  const batches = server.batches.filter(b => b.body?.api_key === site.write_key && b.status !== 503)
  const accepted = []
  for (const b of batches) {
    assert.equal(b.status, 202, b.answer)
    const answer = JSON.parse(b.answer)
    assert.deepEqual(answer.rejected ?? [], [], b.text)
    accepted.push(...b.body.events.map(e => e.event_id))
  }
  // Acknowledged events are visible to queries within a second.
  const rows = await waitFor(async () => {
    const r = await daemon.query(site, `SELECT ${COLUMNS} FROM events ORDER BY ts`)
    return r.length >= new Set(accepted).size && r
  }, 'the accepted events in the store', 5000)
  assert.deepEqual(rows.map(r => r.event_id).sort(), [...new Set(accepted)].sort(), 'every accepted event stored, once')
  return rows
}
/** `type:name` of the rows, sorted; engagement rows are left out (see `engaged`). */
const kinds = rows => rows.filter(r => r.type !== 'engagement').map(r => `${r.type}:${r.name}`).sort()
/**
 * Engagement is reported only past one second of visible time, which depends on the machine's
 * speed: each engagement row must carry at least 1000 ms, and there is at most one per page.
 */
const engaged = (rows, pages) => {
  const e = rows.filter(r => r.type === 'engagement')
  assert.ok(e.length <= pages, `${e.length} engagement rows for ${pages} pages`)
  for (const r of e) assert.ok(r.engagement_ms >= 1000 && r.engagement_ms < 120e3, `engagement_ms ${r.engagement_ms}`)
}
const noPii = (text, where) => {
  for (const secret of PII) assert.ok(!text.includes(secret), `"${secret}" reached the ${where}`)
}

test('pageview carries the design fields, redacted, and the pre-load queue is replayed', { skip }, async () => {
  await useSite()
  const { page, context } = await open('/product.html?utm_source=news&email=jane.doe%40example.com&token=s3cret')
  const pv = await waitEvent('pageview')
  // Exactly the design fields (no referrer: the page was opened directly; no ids: strict mode).
  assert.deepEqual(Object.keys(pv).sort(), ['event_id', 'lang', 'screen', 'title', 'ts', 'type', 'url', 'viewport'])
  assert.equal(pv.name, undefined, 'the daemon defaults the name to the type')
  assert.equal(pv.url, `${server.origin}/product.html?utm_source=news&&`)
  assert.equal(pv.title, 'Cool Shoes for [email]')
  assert.equal(pv.referrer, undefined)
  assert.equal(typeof pv.event_id, 'string')
  assert.ok(Math.abs(pv.ts - Date.now()) < 60e3, 'ts is the client time in ms')
  assert.deepEqual(Object.keys(pv.screen).sort(), ['h', 'w'])
  assert.deepEqual(pv.viewport, { w: 1280, h: 720 }, 'viewport: the window inner size')
  assert.equal(pv.lang, 'en-US')
  assert.equal(pv.visitor_id, undefined, 'strict mode sends no visitor id')
  assert.equal(pv.user_id, undefined)

  const queued = await waitEvent('custom', 'preloaded')
  assert.deepEqual(queued.props, { source: 'queue' })

  await page.click('#add')
  const cart = await waitEvent('ecommerce', 'add_to_cart')
  assert.deepEqual(cart.ecommerce, { product_id: 'prod_123', product_name: 'Cool Shoes', product_price: 99.99, product_quantity: 1 })

  const batch = server.batches[0]
  assert.equal(batch.body.api_key, site.write_key)
  assert.match(batch.contentType, /^text\/plain/)
  await leave(page)
  await context.close()

  const rows = await stored()
  assert.deepEqual(kinds(rows), ['click:click', 'custom:preloaded', 'ecommerce:add_to_cart', 'pageview:pageview', 'scroll:scroll', 'web_vital:web_vital'])
  engaged(rows, 1)
  const stored_pv = rows.find(r => r.type === 'pageview')
  assert.equal(stored_pv.hostname, '127.0.0.1')
  assert.equal(stored_pv.name, 'pageview')
  assert.equal(stored_pv.path, '/product.html')
  assert.equal(stored_pv.utm_source, 'news')
  assert.equal(stored_pv.lang, 'en-US')
  assert.ok(stored_pv.screen_w > 0 && stored_pv.screen_h > 0)
  assert.match(stored_pv.visitor_id, /^[0-9a-f]{16}$/, 'strict: the daemon derived a cookieless visitor id')
  assert.equal(stored_pv.user_id, null)
  assert.deepEqual(JSON.parse(rows.find(r => r.name === 'preloaded').props), { source: 'queue' })
  assert.equal(rows.find(r => r.name === 'add_to_cart').product_id, 'prod_123')
  noPii(JSON.stringify(rows), 'store')
  noPii(server.batches.map(b => b.text).join('\n'), 'wire')
})

test('clicks, outbound links, downloads, rage clicks, scroll depth and vitals, flushed by sendBeacon on page hide', { skip }, async () => {
  await useSite()
  const { page, context } = await open('/')
  const loadedAt = Date.now()
  await waitEvent('pageview')
  await page.click('button.promo')
  await page.click('#partner')
  await page.click('#catalog')
  await page.click('h1', { clickCount: 3 })
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight))
  // Scroll events reach the tracker at the next animation frame; stay at the bottom a little
  // longer, then scroll back up: the maximum must be reported, not the last position.
  await page.waitForTimeout(450)
  await page.evaluate(() => window.scrollTo(0, 0))
  // Engagement under one second is not reported: make sure the page was visible longer.
  await page.waitForTimeout(Math.max(0, 1200 - (Date.now() - loadedAt)))
  const before = server.batches.length
  await leave(page)
  await waitFor(() => ofType('web_vital').length, 'web vitals after page hide')

  const beacons = server.batches.slice(before).filter(b => b.fetchMode === 'no-cors')
  assert.ok(beacons.length >= 1, 'the page-hide flush used sendBeacon')
  const beaconTypes = beacons.flatMap(b => b.body.events.map(e => e.type))
  for (const t of ['scroll', 'engagement', 'web_vital']) assert.ok(beaconTypes.includes(t), `${t} sent by beacon`)
  const [vitals] = ofType('web_vital')
  for (const k of ['ttfb', 'fcp', 'lcp']) assert.ok(vitals.vitals[k] >= 0, `${k} = ${vitals.vitals[k]}`)
  await context.close()

  const rows = await stored()
  assert.deepEqual(kinds(rows), [
    'click:click', 'click:click', 'click:click', 'click:file_download', 'click:outbound_link', 'click:rage_click',
    'pageview:pageview', 'scroll:scroll', 'web_vital:web_vital',
  ])
  engaged(rows, 1)
  assert.equal(rows.filter(r => r.type === 'engagement').length, 1, 'the page was visible over a second')
  const clicks = rows.filter(r => r.type === 'click')
  const promo = clicks.find(c => c.selector === 'main>p>button.promo')
  assert.ok(promo, `a click on the promo button among ${clicks.map(c => c.selector)}`)
  assert.equal(promo.name, 'click')
  assert.ok(promo.click_x > 0 && promo.click_x < 1, 'x is a fraction of the page width')
  assert.ok(promo.click_y > 0, 'y is in pixels from the top')
  const outbound = clicks.find(c => c.name === 'outbound_link')
  assert.equal(JSON.parse(outbound.props).url, 'https://partner.example/deal?ref=shop')
  assert.equal(outbound.selector, 'a#partner')
  const download = clicks.find(c => c.name === 'file_download')
  assert.equal(JSON.parse(download.props).url, `${server.origin}/files/catalog.pdf`)
  const rage = clicks.filter(c => c.selector === 'body>main>h1')
  assert.deepEqual(rage.map(c => c.name), ['click', 'click', 'rage_click'], 'the third quick click is a rage click')

  const scroll = rows.find(r => r.type === 'scroll')
  assert.equal(scroll.scroll_depth, 100)
  assert.equal(scroll.path, '/')
  const vital = rows.find(r => r.type === 'web_vital')
  for (const k of ['ttfb', 'lcp']) assert.ok(vital[k] >= 0, `stored ${k} = ${vital[k]}`)
})

test('a form submission is tracked without any field value, and a purchase with its order', { skip }, async () => {
  await useSite()
  const { page, context } = await open('/checkout.html')
  await page.fill('input[name=email]', 'jane.doe@example.com')
  await page.fill('input[name=card]', '4111 1111 1111 1111')
  await page.fill('input[name=fullname]', 'Jane Doe')
  await page.click('button[type=submit]')
  const form = await waitEvent('form_submit')
  assert.deepEqual(form.props, { form: 'form#checkout-form' })
  const purchase = await waitEvent('ecommerce', 'purchase')
  assert.deepEqual(purchase.ecommerce, {
    order_id: 'order_456',
    order_value: 199.98,
    order_currency: 'USD',
    order_items: [{ product_id: 'prod_123', quantity: 2, price: 99.99 }],
  })
  await leave(page)
  await context.close()

  const rows = await stored()
  assert.deepEqual(kinds(rows), ['click:click', 'ecommerce:purchase', 'form_submit:form_submit', 'pageview:pageview', 'scroll:scroll', 'web_vital:web_vital'])
  assert.equal(rows.find(r => r.type === 'click').selector, 'form#checkout-form>button', 'the click on the pay button')
  engaged(rows, 1)
  assert.deepEqual(JSON.parse(rows.find(r => r.type === 'form_submit').props), { form: 'form#checkout-form' })
  const order = rows.find(r => r.name === 'purchase')
  assert.deepEqual([order.revenue, order.currency, order.order_id], [19998, 'USD', 'order_456'])
  noPii(JSON.stringify(rows), 'store')
  noPii(server.batches.map(b => b.text).join('\n'), 'wire')
})

test('SPA navigations: pushState, hash change and back are pageviews; replaceState only when the path changes', { skip }, async () => {
  await useSite()
  const { page, context } = await open('/spa.html')
  const views = () => ofType('pageview').length
  await waitEvent('pageview')
  await page.click('#to-cart')
  await waitFor(() => views() >= 2, 'pageview after pushState')
  // A new query string alone (replaceState by a filter) and a replaceState of the same URL are
  // no new pages.
  await page.click('#sort')
  await page.click('#same')
  await page.click('#to-product')
  await waitFor(() => views() >= 3, 'second SPA pageview')
  await page.click('#to-reviews')
  await waitFor(() => views() >= 4, 'pageview after hash change')
  await page.goBack()
  await waitFor(() => views() >= 5, 'pageview after popstate')
  // A virtual pageview, then a real navigation: the virtual URL is no navigation of its own.
  await page.evaluate(() => ecomDashAnalytics.page('/virtual/step-2'))
  await waitFor(() => views() >= 6, 'the virtual pageview')
  await page.click('#to-cart')
  await waitFor(() => views() >= 7, 'pageview after the virtual one')
  await page.click('#rename')
  await waitFor(() => views() >= 8, 'pageview after replaceState to a new path')
  await page.click('#same')
  await leave(page)
  await waitFor(() => ofType('web_vital').length, 'the last page reported on page hide')
  await context.close()

  const o = server.origin
  assert.deepEqual(ofType('pageview').map(e => [e.url, e.referrer ?? null]), [
    [`${o}/spa.html`, null],
    [`${o}/spa/cart`, `${o}/spa.html`],
    [`${o}/spa/product?id=7`, `${o}/spa/cart`], // the URL of the previous pageview
    [`${o}/spa/product?id=7#reviews`, `${o}/spa/product?id=7`],
    [`${o}/spa/product?id=7`, `${o}/spa/product?id=7#reviews`],
    [`${o}/virtual/step-2`, `${o}/spa/product?id=7`],
    [`${o}/spa/cart`, `${o}/virtual/step-2`],
    [`${o}/spa/basket`, `${o}/spa/cart`],
  ])
  const rows = await stored()
  const paths = type => rows.filter(r => r.type === type).map(r => r.path)
  const pages = ['/spa.html', '/spa/cart', '/spa/product', '/spa/product', '/spa/product', '/virtual/step-2', '/spa/cart', '/spa/basket']
  assert.deepEqual(paths('pageview'), pages)
  assert.deepEqual(paths('scroll'), pages, 'one scroll depth per page, sent when leaving it')
  assert.equal(rows.filter(r => r.type === 'web_vital').length, 1, 'vitals once per document')
  assert.equal(rows.filter(r => r.type === 'click').length, 8, 'one click per button press')
  assert.deepEqual(kinds(rows).filter(k => !/^(pageview|scroll|web_vital|click):/.test(k)), [], 'nothing else')
  engaged(rows, pages.length)
})

test('SPA navigations are pageviews as they happen, each exactly once', { skip }, async () => {
  await useSite()
  const { page, context } = await open('/spa.html')
  await waitEvent('pageview')
  const views = () => ofType('pageview').length
  // Two pushState navigations in one task, then two 20 ms apart. Each pageview is built inside
  // the pushState call: its ts lies between the clock readings taken around the call.
  const calls = await page.evaluate(async () => {
    const calls = []
    const push = path => {
      const before = Date.now()
      history.pushState({}, '', path)
      calls.push([before, Date.now()])
    }
    push('/spa/one')
    push('/spa/two')
    await new Promise(r => setTimeout(r, 20))
    push('/spa/three')
    await new Promise(r => setTimeout(r, 20))
    push('/spa/four')
    return calls
  })
  assert.ok(calls[1][1] - calls[0][0] < 50, `the first two navigations within ${calls[1][1] - calls[0][0]} ms`)
  // No new page: replaceState of the same URL (router state), with the URL spelled out, and with
  // a new query string alone.
  await page.evaluate(() => {
    history.replaceState({ saved: 1 }, '')
    history.replaceState({ saved: 2 }, '', location.href)
    history.replaceState({}, '', '?sort=price')
  })
  await page.goBack() // popstate: /spa/three
  await waitFor(() => views() >= 6, 'pageview after back')
  // A hash change fires popstate and hashchange: one pageview. Back again: the same.
  await page.evaluate(() => (location.hash = 'reviews'))
  await waitFor(() => views() >= 7, 'pageview after the hash change')
  await page.goBack()
  await waitFor(() => views() >= 8, 'pageview after back from the fragment')
  await leave(page)
  await context.close()

  const o = server.origin
  const pageviews = ofType('pageview')
  assert.deepEqual(pageviews.map(e => [e.url, e.referrer ?? null]), [
    [`${o}/spa.html`, null],
    [`${o}/spa/one`, `${o}/spa.html`],
    [`${o}/spa/two`, `${o}/spa/one`],
    [`${o}/spa/three`, `${o}/spa/two`],
    [`${o}/spa/four`, `${o}/spa/three`],
    [`${o}/spa/three`, `${o}/spa/four`],
    [`${o}/spa/three#reviews`, `${o}/spa/three`],
    [`${o}/spa/three`, `${o}/spa/three#reviews`],
  ])
  calls.forEach(([before, after], i) => {
    const { url, ts } = pageviews[i + 1]
    assert.ok(ts >= before && ts <= after, `${url}: ts ${ts} is not within its pushState call [${before}, ${after}]`)
  })
  const rows = await stored()
  const pages = ['/spa.html', '/spa/one', '/spa/two', '/spa/three', '/spa/four', '/spa/three', '/spa/three', '/spa/three']
  assert.deepEqual(rows.filter(r => r.type === 'pageview').map(r => r.path), pages)
  assert.deepEqual(kinds(rows).filter(k => !/^(pageview|scroll|web_vital):/.test(k)), [], 'nothing else')
  engaged(rows, pages.length)
})

test("the page's own pushState and replaceState keep working: its result, state and exceptions", { skip }, async () => {
  await useSite()
  const { page, context } = await openPage(browser, server.origin)
  page.on('pageerror', e => pageErrors.push(e))
  // A router that wrapped pushState before the tracker loaded, with a result of its own.
  await context.addInitScript(() => {
    const push = history.pushState
    history.pushState = function (...args) {
      window.ownPushes = (window.ownPushes || 0) + 1
      push.apply(this, args)
      return 'own result'
    }
  })
  await page.goto(server.origin + '/spa.html')
  await waitEvent('pageview')
  const after = await page.evaluate(() => {
    const pushed = history.pushState({ n: 1 }, '', '/spa/own')
    const pushState = [pushed, window.ownPushes, history.state.n, location.pathname]
    const replaced = history.replaceState({ n: 2 }, '', '/spa/renamed')
    const replaceState = [typeof replaced, history.state.n, location.pathname]
    const thrown = []
    for (const method of ['pushState', 'replaceState'])
      try {
        history[method]({}, '', 'https://elsewhere.example/')
        thrown.push('no exception')
      } catch (e) {
        thrown.push(e.name)
      }
    return { pushState, replaceState, thrown, path: location.pathname }
  })
  assert.deepEqual(after, {
    pushState: ['own result', 1, 1, '/spa/own'],
    replaceState: ['undefined', 2, '/spa/renamed'],
    thrown: ['SecurityError', 'SecurityError'],
    path: '/spa/renamed',
  })
  await leave(page)
  await context.close()
  const o = server.origin
  assert.deepEqual(ofType('pageview').map(e => e.url), [`${o}/spa.html`, `${o}/spa/own`, `${o}/spa/renamed`], 'no pageview for a refused call')
  assert.equal((await stored()).filter(r => r.type === 'pageview').length, 3)
})

test('offline events are kept and retried with the same event_id once back online, never twice', { skip }, async () => {
  await useSite()
  const { page, context } = await open('/')
  await waitEvent('pageview')
  const failed = []
  page.on('requestfailed', r => r.url().endsWith(BATCH_PATH) && failed.push(r))
  await context.setOffline(true)
  assert.equal(await page.evaluate(() => navigator.onLine), false)
  await page.evaluate(() => ecomDashAnalytics.event('while_offline', { n: 1 }))
  // Offline, the tracker does not even try (the retry timer waits for the browser to be online).
  await page.waitForTimeout(2500)
  assert.equal(failed.length, 0, 'no request while offline')
  // A backlog longer than one request (30 events).
  await page.evaluate(() => {
    for (let i = 0; i < 40; i++) ecomDashAnalytics.event('backlog', { i })
  })
  assert.equal(ofType('custom', 'while_offline').length, 0)
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'strict: the queue is in memory only')
  await context.setOffline(false)
  await waitEvent('custom', 'while_offline')
  await waitFor(() => ofType('custom', 'backlog').length >= 40, 'the whole backlog')
  assert.deepEqual(ofType('custom', 'backlog').map(e => e.props.i).sort((a, b) => a - b), [...Array(40).keys()])
  assert.ok(server.batches.every(b => b.body.events.length <= 30), 'at most 30 events per request')
  await page.evaluate(() => ecomDashAnalytics.event('after_online'))
  await waitEvent('custom', 'after_online')
  await leave(page)
  await context.close()

  const rows = await stored()
  const custom = rows.filter(r => r.type === 'custom').map(r => r.name)
  assert.deepEqual(custom.filter(n => n !== 'backlog'), ['while_offline', 'after_online'])
  assert.equal(custom.filter(n => n === 'backlog').length, 40)
  assert.deepEqual(kinds(rows).filter(k => !k.startsWith('custom:')), ['pageview:pageview', 'scroll:scroll', 'web_vital:web_vital'])
})

// offline → the page goes away → online → the page again: balanced mode keeps the queue in
// localStorage, strict mode nowhere. (The page leaves for about:blank rather than reloading:
// a reload fails offline, and Chromium's offline emulation then reports navigator.onLine = true
// to the unloading page and lets its beacon through, which a real offline browser would not.)
for (const privacy of ['balanced', 'strict']) {
  test(`${privacy}: events queued offline ${privacy === 'balanced' ? 'survive' : 'do not survive'} leaving the page, and arrive once back online`, { skip }, async () => {
    await useSite({ privacy })
    const { page, context } = await open('/cart.html')
    await waitEvent('pageview')
    await context.setOffline(true)
    // Chromium's offline emulation can report navigator.onLine = true to a page while it navigates
    // away: seen in CI, an `online` event, then a keepalive fetch that went through (keepalive
    // requests outlive the page, out of reach of the emulation and of request routing). A really
    // offline browser reports false until it is back online: this page's navigator.onLine is
    // pinned to false, so the emulation cannot flip it.
    await page.evaluate(() => Object.defineProperty(navigator, 'onLine', { get: () => false }))
    await page.evaluate(() => ecomDashAnalytics.event('queued_offline'))
    // The page goes away with its queue and its page-hide events (scroll, engagement, vitals).
    await leave(page, false) // offline: no beacon
    const { origins } = await context.storageState()
    const saved = origins.find(o => o.origin === server.origin)?.localStorage.find(i => i.name === 'ecomdash_q')?.value ?? null
    if (privacy === 'strict') assert.equal(saved, null, 'strict: nothing stored')
    else assert.deepEqual(JSON.parse(saved).map(e => e.type).sort(), ['custom', 'scroll', 'web_vital'].concat(saved.includes('"engagement"') ? ['engagement'] : []).sort())
    await context.setOffline(false)
    await page.goto(server.origin + '/cart.html')
    await waitFor(() => ofType('pageview').length >= 2, 'the pageview after the reload')
    await page.evaluate(() => ecomDashAnalytics.event('after_reload'))
    await waitEvent('custom', 'after_reload')
    await leave(page)
    await context.close()

    const rows = await stored()
    const expected =
      privacy === 'balanced'
        ? ['custom:after_reload', 'custom:queued_offline', 'pageview:pageview', 'pageview:pageview', 'scroll:scroll', 'scroll:scroll', 'web_vital:web_vital', 'web_vital:web_vital']
        : ['custom:after_reload', 'pageview:pageview', 'pageview:pageview', 'scroll:scroll', 'web_vital:web_vital']
    assert.deepEqual(kinds(rows), expected, trace())
    engaged(rows, 2)
    if (privacy === 'balanced') {
      const offline = rows.find(r => r.name === 'queued_offline')
      const [first] = rows.filter(r => r.type === 'pageview')
      assert.ok(offline.ts < first.ts || offline.ts > first.ts, 'its own (client) time')
      assert.equal(offline.visitor_id, first.visitor_id, 'the same first-party visitor')
    }
  })
}

test('a 503 answer is retried with backoff and the same event_id', { skip }, async () => {
  await useSite()
  server.failNext(1, 'case=retry')
  const { page, context } = await open('/cart.html?case=retry')
  await waitFor(() => server.batches.some(b => b.status === 503), 'the 503 answer')
  const rejected = server.batches.find(b => b.status === 503).body.events.map(e => e.event_id)
  const accepted = () => server.batches.filter(b => b.status === 202).flatMap(b => b.body.events.map(e => e.event_id))
  await waitFor(() => rejected.every(id => accepted().includes(id)), 'the retry', 10e3)
  for (const id of rejected) assert.equal(accepted().filter(a => a === id).length, 1, 'accepted exactly once')
  await leave(page)
  await context.close()
  const rows = await stored()
  for (const id of rejected) assert.equal(rows.filter(r => r.event_id === id).length, 1, 'stored exactly once')
})

test('privacy modes: strict stores nothing, balanced keeps a first-party visitor id, off sends user ids', { skip }, async () => {
  await useSite()
  let { page, context } = await open('/cart.html')
  await waitEvent('pageview')
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'strict: no storage')
  assert.deepEqual(await context.cookies(), [])
  await context.close()

  server.reset()
  await useSite({ privacy: 'balanced' })
  ;({ page, context } = await open('/cart.html'))
  await page.goto(server.origin + '/product.html')
  await waitFor(() => ofType('pageview').length >= 2, 'two pageviews')
  const [a, b] = ofType('pageview')
  assert.ok(a.visitor_id && a.visitor_id === b.visitor_id, 'the same visitor id across pages')
  assert.equal(await page.evaluate(() => localStorage.getItem('ecomdash')), a.visitor_id)
  assert.deepEqual(await context.cookies(), [], 'no cookies in any mode')
  await page.evaluate(() => ecomDashAnalytics.identify('user_789', { plan: 'pro' }))
  const idBalanced = await waitEvent('identify')
  assert.equal(idBalanced.user_id, undefined, 'balanced: no user id')
  await leave(page)
  await context.close()
  let rows = await stored()
  assert.deepEqual([...new Set(rows.map(r => r.visitor_id))], [a.visitor_id], 'the daemon keeps the tracker visitor id')
  assert.deepEqual([...new Set(rows.map(r => r.user_id))], [null])

  server.reset()
  await useSite({ privacy: 'off' })
  ;({ page, context } = await open('/cart.html'))
  await page.evaluate(() => {
    ecomDashAnalytics.identify('user_789', { plan: 'pro', email: 'jane.doe@example.com' })
    ecomDashAnalytics.event('signed_in')
  })
  const identify = await waitEvent('identify')
  assert.equal(identify.user_id, 'user_789')
  assert.deepEqual(identify.props, { plan: 'pro' })
  assert.equal((await waitEvent('custom', 'signed_in')).user_id, 'user_789')
  await context.close()
  rows = await stored()
  assert.deepEqual(rows.filter(r => ['identify', 'custom'].includes(r.type)).map(r => [r.name, r.user_id]), [
    ['identify', 'user_789'],
    ['signed_in', 'user_789'],
  ])
})

test('opt-out, Do-Not-Track and Global Privacy Control stop all sending', { skip }, async () => {
  await useSite()
  let { page, context } = await open('/cart.html')
  await waitEvent('pageview')
  await page.evaluate(() => ecomDashAnalytics.optOut())
  await page.reload()
  await page.evaluate(() => ecomDashAnalytics.event('after_opt_out'))
  await leave(page, false) // opted out: nothing to send
  await page.goto(server.origin + '/cart.html')
  await page.evaluate(() => {
    ecomDashAnalytics.optIn()
    ecomDashAnalytics.event('after_opt_in')
  })
  await waitEvent('custom', 'after_opt_in')
  await context.close()
  const rows = await stored()
  // The page opted in again reports its scroll depth and vitals when the context closes (its own
  // pageview was not sent: it loaded opted out).
  const leaving = /^(scroll|web_vital|engagement)$/
  assert.deepEqual(kinds(rows.filter(r => !leaving.test(r.type))), ['custom:after_opt_in', 'pageview:pageview'], 'nothing while opted out')
  assert.ok(rows.filter(r => leaving.test(r.type)).every(r => r.ts > rows.find(x => x.name === 'after_opt_in').ts), 'only after opting in')

  for (const init of ['Object.defineProperty(navigator, "globalPrivacyControl", { get: () => true })',
    'Object.defineProperty(navigator, "doNotTrack", { get: () => "1" })']) {
    server.reset()
    // balanced: the mode that would otherwise keep a visitor id and the queue in localStorage
    await useSite({ privacy: 'balanced' })
    ;({ page, context } = await openPage(browser, server.origin))
    page.on('pageerror', e => pageErrors.push(e))
    await context.addInitScript(init)
    await page.goto(server.origin + '/checkout.html')
    await page.evaluate(() => ecomDashAnalytics.event('should_not_send'))
    await page.click('button[type=submit]')
    await leave(page, false) // the page hide flushes whatever would have been queued
    await page.goto(server.origin + '/checkout.html')
    await page.evaluate(() => ecomDashAnalytics.event('should_not_send'))
    const kept = await page.evaluate(() => Object.keys(localStorage))
    await context.close()
    assert.deepEqual(kept, [], `${init}: nothing kept in localStorage`)
    assert.deepEqual(wire(), [], `${init}: nothing sent`)
    assert.deepEqual(await stored(), [], `${init}: nothing stored`)
  }
})

test('uncaught errors are reported with message, source and line, redacted', { skip }, async () => {
  await useSite()
  const { page, context } = await open('/')
  // A broken image is a resource error, not a JavaScript error: it must not be reported.
  await page.click('#broken-image')
  await page.waitForFunction(() => document.getElementById('banner')?.complete)
  await page.click('#broken')
  const [error] = await waitFor(() => ofType('error').length && ofType('error'), 'the error event')
  assert.equal(error.error.message, 'Uncaught Error: fixture failure for [email]')
  assert.equal(error.error.source, `${server.origin}/`)
  assert.ok(error.error.line > 0)
  await leave(page)
  await context.close()
  const rows = await stored()
  const errors = rows.filter(r => r.type === 'error')
  assert.deepEqual(errors.map(r => r.error_message), ['Uncaught Error: fixture failure for [email]'], 'the broken image is not reported')
})

test('data-auto-track="false" sends only what the API asks for', { skip }, async () => {
  await useSite({ 'auto-track': 'false' })
  const { page, context } = await open('/')
  await page.waitForFunction(() => window.ecomDashAnalytics?.page)
  assert.equal(await page.evaluate(() => history.pushState === History.prototype.pushState && history.replaceState === History.prototype.replaceState), true, "the page's history is left alone")
  await page.click('button.promo')
  await page.evaluate(() => {
    ecomDashAnalytics.event('manual')
    ecomDashAnalytics.page()
  })
  await waitFor(() => ofType('pageview').length && ofType('custom', 'manual').length, 'the manual events')
  await leave(page, false) // they went together, nothing is left for the page hide
  await context.close()
  assert.deepEqual(kinds(await stored()), ['custom:manual', 'pageview:pageview'])
})

test('no exception reaches the page, whatever the API or the intake does', { skip }, async () => {
  await useSite({ 'api-url': 'http://127.0.0.1:9/nowhere' })
  const { page, context } = await open('/spa.html')
  const thrown = await page.evaluate(() => {
    const a = window.ecomDashAnalytics
    const cyclic = {}
    cyclic.self = cyclic
    const calls = [
      () => a.event(),
      () => a.event('x', cyclic),
      () => a.trackEcommerce(null, null),
      () => a.identify(),
      () => a.identify(Symbol('id')),
      () => a.identify({ toString: () => { throw new Error('no') } }),
      () => a.page('http://[bad'),
      () => a.push('nope'),
      () => a.push(['nope']),
      () => a.push(null),
    ]
    let n = 0
    for (const c of calls) {
      try {
        c()
      } catch {
        n++
      }
    }
    return n
  })
  assert.equal(thrown, 0)
  // The wrapped history methods keep their own behaviour, exceptions included, with the intake down.
  const pushed = await page.evaluate(() => {
    try {
      history.pushState({}, '', 'https://elsewhere.example/')
      return 'no exception'
    } catch (e) {
      return e.name
    }
  })
  assert.equal(pushed, 'SecurityError')
  assert.equal(await page.evaluate(() => (history.pushState({ n: 1 }, '', '/spa/x'), [history.state.n, location.pathname])).then(String), '1,/spa/x')
  await page.click('#to-cart')
  await leave(page, false) // its intake is unreachable
  await context.close()
  const unexpected = pageErrors.map(String).filter(e => !e.includes('fixture failure'))
  assert.deepEqual(unexpected, [], 'no uncaught exception on any page of the suite')
})
