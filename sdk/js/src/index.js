// Browser entry: reads the script tag's configuration, tracks the page automatically and exposes
// the `ecomDashAnalytics` global. Whatever can throw runs inside `guard`: no exception reaches the
// host page. Written for size (budget: 2,048 bytes gzipped), so helpers are few and shared, and
// booleans of DOM options are written 1 (WebIDL converts them).
import { selector } from './selector.js'
import { uuid } from './event.js'
import { redact } from './redact.js'
import { createQueue } from './queue.js'

const N = navigator
const D = document
const now = Date.now
// Wraps a function so that it never throws.
const guard =
  f =>
  (...a) => {
    try {
      return f(...a)
    } catch (e) {}
  }
// Every listener is on the window, in the capture phase: events fired at the document or an
// element (visibilitychange, click, submit, an inner scroll) pass through the window first, so a
// page that stops propagation still has its clicks counted. Resource load errors reach it too:
// the error listener skips them (no message).
const on = (type, f) => addEventListener(type, guard(f), 1)
// The localStorage key `ecomdash`: "0" once the visitor opted out, else the visitor id (balanced
// and off privacy modes only). Access throws in sandboxed frames, hence the guard.
// A truthy value sets, 0 or false removes, no value reads.
const store = guard(v =>
  v ? (localStorage.ecomdash = v) : v == 0 ? delete localStorage.ecomdash : localStorage.ecomdash
)

guard(() => {
  const script = D.currentScript
  const { apiKey, apiUrl, privacy, autoTrack } = script.dataset
  const endpoint = (apiUrl || new URL('/api/v1/analytics', script.src)) + '/track/batch'
  const auto = autoTrack != 'false'
  // Do-Not-Track and Global Privacy Control are always honoured.
  const disabled = () => store() == 0 || N.doNotTrack > 0 || N.globalPrivacyControl

  let visitorId
  let userId
  let current // URL of the page being viewed
  let seen // the page key of the last automatic pageview: a virtual page(url) is no navigation
  let depth // max scroll depth (%) of the current page, measured on every scroll and on leaving
  let sentDepth
  let visibleSince = now() // start of the visible time not yet reported
  let errors = 0
  const root = D.documentElement
  let vitalsSent
  const vitals = {}
  // Nothing is stored under Do-Not-Track, Global Privacy Control or an opt-out either.
  const keepIds = (privacy == 'off' || privacy == 'balanced') && !disabled()
  if (keepIds) store((visitorId = store() || uuid()))

  // A hidden page may be going away: sendBeacon then, fetch with keepalive otherwise (a 429 or
  // 5xx answer is a failure: retried; `post` answers true when done, see queue.js). Offline,
  // nothing is sent, not even a beacon (which the browser would accept and then lose): the queue
  // keeps the events. In the balanced and off modes localStorage keeps the queue too
  // (`ecomdash_q`), so they survive a reload and go out once the browser is back online; strict
  // mode stores nothing. A damaged saved queue reads as none (guard).
  const queue = createQueue(
    (events, body = JSON.stringify({ api_key: apiKey, events })) =>
      disabled() ||
      (N.onLine &&
        ((D.hidden && N.sendBeacon(endpoint, body)) ||
          fetch(endpoint, { method: 'POST', body, keepalive: 1 }).then(r => r.status < 429))),
    guard(events => keepIds && (localStorage.ecomdash_q = JSON.stringify(events))),
    keepIds && guard(() => JSON.parse(localStorage.ecomdash_q))()
  )

  // One wire event (DESIGN.md "Event model"): the page context, then the event's own fields
  // (which may override it), redacted as a whole by a JSON copy through `redact` (the random ids
  // are safe: see `uuid`); the daemon defaults `name` to the type. Guarded: the API methods and
  // listeners that reach it need no guard of their own.
  const track = guard(
    (type, fields) =>
      disabled() ||
      queue.add(
        JSON.parse(
          JSON.stringify(
            {
              type,
              event_id: uuid(),
              url: current || location.href,
              title: D.title,
              ts: now(),
              visitor_id: visitorId,
              user_id: userId,
              screen: { w: screen.width, h: screen.height },
              viewport: { w: innerWidth, h: innerHeight },
              lang: N.language,
              ...fields,
            },
            redact
          )
        )
      )
  )

  const measureScroll = () =>
    (depth = Math.max(depth, Math.min(100, (((scrollY + innerHeight) * 100) / root.scrollHeight) | 0)))

  // The visitor leaves the page (hides it, closes it or navigates inside the SPA): send its
  // scroll depth, engaged time and, once per document, its web vitals.
  const leave = () => {
    if (auto && current) {
      measureScroll()
      if (depth > sentDepth) track('scroll', { scroll_depth: (sentDepth = depth) })
      visibleSince = now() - visibleSince // now the engaged time, reset below
      if (visibleSince > 999) track('engagement', { engagement_ms: visibleSince })
      visibleSince = now()
      vitalsSent || track('web_vital', { vitals: (vitalsSent = vitals) })
    }
  }

  // The referrer is the previous page (SPA) or document.referrer; the extra arguments of `track`
  // are evaluated after it and before the event is built, so the event gets the new URL.
  const pageview = url => {
    leave()
    track('pageview', { referrer: current || D.referrer }, (current = url || location.href), (depth = sentDepth = 0))
  }

  // A pageview when the page key (path and fragment) differs from the last automatic pageview's:
  // a new query string alone is no new page (as in Plausible: routers rewrite it for filters and
  // state), nor is a replaceState that keeps the path. Guarded: it runs inside the page's own
  // pushState and replaceState calls.
  const check = guard(() => seen != (seen = location.pathname + location.hash) && pageview())

  const api = {
    event: (name, props) => track('custom', { name, props }),
    trackEcommerce: (name, ecommerce) => track('ecommerce', { name, ecommerce }),
    // The user id is set in an extra argument, before `track` builds the event.
    identify: guard((id, props) => track('identify', { props }, privacy == 'off' && (userId = id && id + ''))),
    page: guard(url => pageview(url && new URL(url, location) + '')),
    optOut: () => store('0'),
    optIn: () => store(keepIds && (visitorId = uuid())),
    push: guard(([method, ...args]) => api[method](...args)),
  }
  // Calls made before the script loaded, in order, before the first pageview (an early optOut
  // holds); then the global is the API.
  self.ecomDashAnalytics?.map?.(api.push)
  self.ecomDashAnalytics = api

  // Page hide (tab switch, close, navigation away; fires before pagehide in every current
  // browser): report the page and hand the whole queue to sendBeacon.
  on('visibilitychange', () => (D.hidden ? (leave(), queue.send()) : (visibleSince = now())))
  on('online', queue.send)
  if (!auto) return

  // The page's maximum scroll depth, on every scroll (a capturing listener: the scrolls of inner
  // elements call it too, which only measures the window again) and on leaving.
  on('scroll', measureScroll)

  // SPA navigations, seen as they happen: the page's pushState and replaceState are wrapped (the
  // original runs first, with its own result and exceptions, then the page key is checked), and
  // back/forward (popstate) and hash changes (hashchange) are listened to. A hash change fires
  // both popstate and hashchange: the page key makes it one pageview.
  ;['pushState', 'replaceState'].map(method => {
    const original = history[method]
    history[method] = (...args) => ((args = original.apply(history, args)), check(), args)
  })
  on('popstate', check)
  on('hashchange', check)

  on('click', e => {
    const t = e.target
    const link = t.closest('a')
    track('click', {
      name:
        link?.host && link.host != location.host
          ? 'outbound_link'
          : /\.(pdf|zip|csv|xlsx?|docx?)$/i.test(link?.pathname)
            ? 'file_download'
            : e.detail == 3 // the browser's own count of quick clicks on one spot
              ? 'rage_click'
              : 'click',
      props: { url: link?.href },
      click: { x: e.pageX / root.scrollWidth, y: e.pageY, selector: selector(t) },
    })
  })
  on('submit', e => track('form_submit', { props: { form: selector(e.target) } }))
  on('error', e => e.message && errors++ < 10 && track('error', { error: { message: e.message, source: e.filename, line: e.lineno } }))

  check()

  // Web vitals, last (an old browser without PerformanceObserver throws here, after the rest is
  // set up): LCP (last candidate), FCP (the last paint entry), CLS (sum of shifts without recent
  // input), INP (longest interaction: an upper bound of the 98th percentile) and TTFB. The
  // callbacks only read entries and write numbers, so they cannot throw and need no guard.
  const observe = (type, f) =>
    new PerformanceObserver(list => list.getEntries().map(f)).observe({ type, buffered: 1, durationThreshold: 16 })
  observe('largest-contentful-paint', e => (vitals.lcp = e.startTime))
  observe('paint', e => (vitals.fcp = e.startTime))
  observe('layout-shift', e => e.hadRecentInput || (vitals.cls = (vitals.cls || 0) + e.value))
  observe('event', e => e.interactionId && (vitals.inp = Math.max(vitals.inp | 0, e.duration)))
  observe('navigation', e => (vitals.ttfb = e.responseStart))
})()
