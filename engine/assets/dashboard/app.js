// The EcomDash dashboard: sign-in with a site's read key (kept in sessionStorage), the summary of a
// date range with change against the previous period, top lists that filter the page when
// clicked, and a live panel fed by the WebSocket stream. Plain modules, no build step.
import { lineChart, barChart } from './chart.js'

const $ = id => document.getElementById(id)
const AUTH_KEY = 'ecomdash.auth'
const DAY_MS = 86_400_000

// Top lists: the summary field they come from (first present wins) and the query parameter a
// click on one of their rows adds to the summary request.
export const LISTS = {
  pages: { fields: ['top_pages', 'pages'], filter: 'page', label: 'Page' },
  entry_pages: { fields: ['entry_pages'], filter: 'entry_page', label: 'Entry page' },
  sources: { fields: ['referrer_sources', 'sources'], filter: 'source', label: 'Source' },
  campaigns: { fields: ['utm_campaigns', 'campaigns'], filter: 'utm_campaign', label: 'Campaign' },
  countries: { fields: ['countries'], filter: 'country', label: 'Country' },
  devices: { fields: ['devices'], filter: 'device', label: 'Device' },
  browsers: { fields: ['browsers'], filter: 'browser', label: 'Browser' },
  os: { fields: ['os', 'operating_systems'], filter: 'os', label: 'OS' },
}

const state = {
  auth: null, // {site, key}
  range: '30d',
  from: null,
  to: null,
  filters: {}, // query parameter -> value
  socket: null,
  retryMs: 1000,
  retryTimer: 0,
  loadSeq: 0,
}

// ---- formatting ----------------------------------------------------------------------------
const integer = new Intl.NumberFormat('en')
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 })
const count = n => (n >= 100_000 ? compact.format(n) : integer.format(Math.round(n)))
const percent = r => `${(r * 100).toFixed(r < 0.1 ? 1 : 0)}%`
function duration(seconds) {
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`
}
function money(amount, currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: currency || 'USD', maximumFractionDigits: amount >= 100_000 ? 0 : 2 }).format(amount)
  } catch {
    return integer.format(amount)
  }
}

// ---- dates ---------------------------------------------------------------------------------
const isoDate = d => d.toISOString().slice(0, 10)
const parseDate = s => new Date(`${s}T00:00:00Z`)

/** The [from, to] (inclusive UTC dates) of the selected range and of the period before it. */
export function periods(range, from, to, now = new Date()) {
  let end = parseDate(isoDate(now))
  let start
  if (range === 'today') start = end
  else if (range === '7d') start = new Date(end - 6 * DAY_MS)
  else if (range === 'custom' && from && to) {
    start = parseDate(from)
    end = parseDate(to)
    if (end < start) [start, end] = [end, start]
  } else start = new Date(end - 29 * DAY_MS)
  const days = Math.round((end - start) / DAY_MS) + 1
  const prevEnd = new Date(start - DAY_MS)
  const prevStart = new Date(prevEnd - (days - 1) * DAY_MS)
  return { from: isoDate(start), to: isoDate(end), prevFrom: isoDate(prevStart), prevTo: isoDate(prevEnd), days }
}

// ---- the summary contract ------------------------------------------------------------------
const first = (obj, names) => {
  for (const n of names) if (obj && obj[n] != null) return obj[n]
  return undefined
}
const num = v => (typeof v === 'number' && Number.isFinite(v) ? v : Number(v) || 0)

function rows(list) {
  if (!Array.isArray(list)) return []
  return list.map(r => {
    const key = first(r, ['key', 'value', 'name', 'path', 'label'])
    // `key: null` groups rows without a value: shown, but not a filter.
    return { key: key == null ? '(none)' : String(key), none: key == null, count: num(first(r, ['count', 'visitors', 'pageviews', 'sessions'])) }
  })
}

/** Reads a summary answer into the figures the page shows (see docs/dashboard.md). */
export function normalize(summary) {
  const t = summary.totals || summary.metrics || summary
  let bounce = num(first(t, ['bounce_rate']))
  if (bounce > 1) bounce /= 100
  let conversion = num(first(t, ['conversion_rate']))
  if (conversion > 1) conversion /= 100
  let seconds = first(t, ['avg_session_duration_secs', 'avg_session_duration_s', 'avg_session_duration_seconds', 'avg_session_duration', 'session_duration'])
  if (seconds == null) seconds = num(first(t, ['avg_session_duration_ms'])) / 1000
  let revenue = first(t, ['revenue'])
  if (revenue == null) revenue = num(first(t, ['revenue_minor', 'revenue_cents'])) / 100
  const series = first(summary, ['timeseries', 'time_series', 'series']) || []
  const lists = summary.top || summary.breakdowns || summary
  const out = {
    visitors: num(first(t, ['visitors'])),
    pageviews: num(first(t, ['pageviews'])),
    sessions: num(first(t, ['sessions'])),
    bounce_rate: bounce,
    session_duration: num(seconds),
    revenue: num(revenue),
    currency: first(t, ['currency']) || first(summary, ['currency']),
    orders: num(first(t, ['orders'])),
    conversion_rate: conversion,
    series: series.map(p => ({
      label: String(first(p, ['date', 'day', 'hour', 'bucket', 'time', 'ts']) ?? ''),
      visitors: num(first(p, ['visitors'])),
      pageviews: num(first(p, ['pageviews'])),
    })),
    lists: {},
  }
  for (const [name, spec] of Object.entries(LISTS)) out.lists[name] = rows(first(lists, spec.fields))
  return out
}

// ---- API -----------------------------------------------------------------------------------
class HttpError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.auth.key}` } })
  if (!response.ok) {
    let message = `${response.status}`
    try {
      message = (await response.json()).error.message
    } catch {}
    throw new HttpError(response.status, message)
  }
  return response.json()
}

function summaryPath(from, to) {
  const params = new URLSearchParams({ site: state.auth.site, from, to, ...state.filters })
  return `/api/v1/analytics/summary?${params}`
}

// ---- sign-in -------------------------------------------------------------------------------
async function signIn(site, key) {
  state.auth = { site, key }
  await api(`/api/v1/analytics/realtime?site=${encodeURIComponent(site)}`)
  sessionStorage.setItem(AUTH_KEY, JSON.stringify(state.auth))
}

function signOut(message = '') {
  sessionStorage.removeItem(AUTH_KEY)
  state.auth = null
  closeSocket()
  $('dashboard').hidden = true
  $('sign-out').hidden = true
  $('site-name').textContent = ''
  $('sign-in').hidden = false
  $('sign-in-error').textContent = message
}

function showDashboard() {
  $('sign-in').hidden = true
  $('dashboard').hidden = false
  $('sign-out').hidden = false
  $('site-name').textContent = state.auth.site
  document.title = `${state.auth.site} · EcomDash`
  load()
  connect()
}

// ---- the summary view ----------------------------------------------------------------------
function change(now, before, invert) {
  if (!before) return { text: now ? 'new' : '', cls: '' }
  const delta = (now - before) / before
  if (Math.abs(delta) < 0.0005) return { text: '0%', cls: '' }
  const good = invert ? delta < 0 : delta > 0
  const pct = Math.abs(delta * 100)
  return { text: `${delta > 0 ? '↑' : '↓'} ${pct.toFixed(pct < 1 ? 1 : 0)}%`, cls: good ? 'up' : 'down' }
}

function renderCards(cur, prev) {
  const shown = {
    visitors: count(cur.visitors),
    pageviews: count(cur.pageviews),
    bounce_rate: percent(cur.bounce_rate),
    session_duration: duration(cur.session_duration),
    revenue: money(cur.revenue, cur.currency),
    conversion_rate: percent(cur.conversion_rate),
  }
  for (const card of document.querySelectorAll('.card')) {
    const metric = card.dataset.metric
    card.querySelector('.value').textContent = shown[metric]
    const c = prev ? change(cur[metric], prev[metric], metric === 'bounce_rate') : { text: '', cls: '' }
    const el = card.querySelector('.change')
    el.textContent = c.text
    el.className = `change ${c.cls}`
    el.title = prev ? 'against the previous period of the same length' : ''
  }
}

function renderChart(cur) {
  const hourly = cur.series.length && /T|:|\s/.test(cur.series[0].label)
  // The summary zero-fills the whole day; hours that have not come yet are left out.
  const thisHour = new Date().toISOString().slice(0, 13).replace('T', ' ')
  const series = hourly ? cur.series.filter(p => p.label.replace('T', ' ').slice(0, 13) <= thisHour) : cur.series
  const labels = series.map(p => {
    const l = p.label
    if (hourly) return l.replace(/^.*[T\s]/, '').slice(0, 5)
    const d = parseDate(l.slice(0, 10))
    return Number.isNaN(d.getTime()) ? l : d.toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC' })
  })
  lineChart($('chart'), {
    labels,
    series: [
      { name: 'Visitors', values: series.map(p => p.visitors), className: 's1' },
      { name: 'Pageviews', values: series.map(p => p.pageviews), className: 's2' },
    ],
    describe: `Visitors and pageviews per ${hourly ? 'hour' : 'day'}: ${count(cur.visitors)} visitors and ${count(cur.pageviews)} pageviews in total`,
  })
}

/** A list of rows with bars proportional to the largest; `onPick` makes rows buttons. */
function renderBars(ol, items, onPick, describe) {
  ol.textContent = ''
  if (!items.length) {
    const li = document.createElement('li')
    li.className = 'empty'
    li.textContent = 'No data'
    ol.appendChild(li)
    return
  }
  const max = Math.max(1, ...items.map(i => i.count))
  for (const item of items.slice(0, 10)) {
    const li = document.createElement('li')
    const pick = onPick && !item.none
    const row = document.createElement(pick ? 'button' : 'div')
    row.className = 'row'
    if (pick) {
      row.type = 'button'
      row.addEventListener('click', () => onPick(item.key))
      row.setAttribute('aria-label', `${describe} ${item.key}: ${item.count}. Filter by it`)
    }
    row.style.setProperty('--share', `${((item.count / max) * 100).toFixed(1)}%`)
    const key = document.createElement('span')
    key.className = 'key'
    key.textContent = item.key
    key.title = item.key
    const value = document.createElement('span')
    value.className = 'count'
    value.textContent = count(item.count)
    row.append(key, value)
    li.appendChild(row)
    ol.appendChild(li)
  }
}

function renderLists(cur) {
  for (const panel of document.querySelectorAll('[data-list]')) {
    const spec = LISTS[panel.dataset.list]
    const pick = state.filters[spec.filter] ? null : key => addFilter(spec.filter, key)
    renderBars(panel.querySelector('ol'), cur.lists[panel.dataset.list], pick, spec.label)
  }
}

function renderFilters() {
  const box = $('filters')
  box.textContent = ''
  for (const [param, value] of Object.entries(state.filters)) {
    const spec = Object.values(LISTS).find(s => s.filter === param)
    const chip = document.createElement('button')
    chip.type = 'button'
    chip.className = 'chip'
    chip.textContent = `${spec ? spec.label : param} is ${value} ✕`
    chip.setAttribute('aria-label', `Remove filter ${spec ? spec.label : param} is ${value}`)
    chip.addEventListener('click', () => {
      delete state.filters[param]
      saveView()
      load()
    })
    box.appendChild(chip)
  }
}

function addFilter(param, value) {
  state.filters[param] = value
  saveView()
  load()
}

function notice(text) {
  $('notice').hidden = !text
  $('notice').textContent = text
}

async function load() {
  const seq = ++state.loadSeq
  const p = periods(state.range, state.from, state.to)
  const day = s => parseDate(s).toLocaleDateString('en', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' })
  $('period').textContent = p.from === p.to ? day(p.from) : `${day(p.from)} – ${day(p.to)}`
  renderFilters()
  document.body.classList.add('loading')
  try {
    const [cur, prev] = await Promise.all([api(summaryPath(p.from, p.to)), api(summaryPath(p.prevFrom, p.prevTo)).catch(() => null)])
    if (seq !== state.loadSeq) return
    const current = normalize(cur)
    renderCards(current, prev && normalize(prev))
    renderChart(current)
    renderLists(current)
    notice('')
  } catch (error) {
    if (seq !== state.loadSeq) return
    if (error.status === 401 || error.status === 403) return signOut('The read key was refused; sign in again.')
    if (error.status === 404) notice('This daemon has no summary API (GET /api/v1/analytics/summary); only the live panel works.')
    else notice(`Could not load the summary: ${error.message}`)
  } finally {
    if (seq === state.loadSeq) {
      document.body.classList.remove('loading')
      document.body.dataset.loaded = String(seq)
    }
  }
}

// ---- view state in the URL hash (range and filters survive a reload) ----------------------
function saveView() {
  const params = new URLSearchParams({ range: state.range })
  if (state.range === 'custom') {
    params.set('from', state.from || '')
    params.set('to', state.to || '')
  }
  for (const [k, v] of Object.entries(state.filters)) params.set(`f.${k}`, v)
  history.replaceState(null, '', `#${params}`)
}

function restoreView() {
  const params = new URLSearchParams(location.hash.slice(1))
  state.range = params.get('range') || '30d'
  state.from = params.get('from')
  state.to = params.get('to')
  state.filters = {}
  for (const [k, v] of params) if (k.startsWith('f.')) state.filters[k.slice(2)] = v
  $('range-select').value = state.range
  const p = periods(state.range, state.from, state.to)
  $('from-input').value = p.from
  $('to-input').value = p.to
  $('custom-range').hidden = state.range !== 'custom'
}

// ---- live panel ----------------------------------------------------------------------------
function setStatus(text, cls) {
  const s = $('live-status')
  s.textContent = text
  s.className = `status ${cls}`
}

function renderLive(frame) {
  $('live-visitors').textContent = count(frame.visitors_last_5m)
  $('live-rate').textContent = (frame.events_per_second || 0).toFixed(1)
  const minutes = frame.pageviews_per_minute || []
  const total = minutes.reduce((a, m) => a + m.pageviews, 0)
  barChart($('live-chart'), {
    values: minutes.map(m => m.pageviews),
    labels: minutes.map(m => new Date(m.minute_ms).toLocaleTimeString('en', { hour: '2-digit', minute: '2-digit' })),
    describe: `${total} pageviews in the last 30 minutes`,
  })
  renderBars($('live-pages'), (frame.top_pages || []).slice(0, 5), null, 'Page')
  document.body.dataset.liveSeq = String(frame.seq)
}

function closeSocket() {
  clearTimeout(state.retryTimer)
  if (state.socket) {
    state.socket.onclose = null
    state.socket.close()
    state.socket = null
  }
}

function connect() {
  closeSocket()
  if (!state.auth) return
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const params = new URLSearchParams({ site: state.auth.site, token: state.auth.key })
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/analytics/ws?${params}`)
  state.socket = socket
  setStatus('connecting', 'wait')
  socket.onopen = () => {
    state.retryMs = 1000
    setStatus('live', 'ok')
  }
  socket.onmessage = event => {
    try {
      renderLive(JSON.parse(event.data))
    } catch {}
  }
  socket.onclose = () => {
    state.socket = null
    if (!state.auth) return
    // Exponential backoff with jitter, capped at 30 s.
    const wait = Math.min(30_000, state.retryMs) * (0.75 + Math.random() * 0.5)
    state.retryMs = Math.min(30_000, state.retryMs * 2)
    setStatus(`reconnecting in ${Math.ceil(wait / 1000)}s`, 'bad')
    state.retryTimer = setTimeout(connect, wait)
  }
}

// ---- wiring --------------------------------------------------------------------------------
function init() {
  $('sign-in-form').addEventListener('submit', async event => {
    event.preventDefault()
    const site = $('site-input').value.trim()
    const key = $('key-input').value.trim()
    $('sign-in-error').textContent = ''
    try {
      await signIn(site, key)
      $('key-input').value = ''
      showDashboard()
    } catch (error) {
      state.auth = null
      $('sign-in-error').textContent = error.status === 401 || error.status === 400 ? 'That site and read key do not match.' : `Sign-in failed: ${error.message}`
    }
  })
  $('sign-out').addEventListener('click', () => signOut())
  $('range-select').addEventListener('change', () => {
    state.range = $('range-select').value
    $('custom-range').hidden = state.range !== 'custom'
    if (state.range === 'custom') return $('from-input').focus()
    saveView()
    load()
  })
  $('apply-range').addEventListener('click', () => {
    state.from = $('from-input').value
    state.to = $('to-input').value
    if (!state.from || !state.to) return
    saveView()
    load()
  })
  restoreView()
  try {
    state.auth = JSON.parse(sessionStorage.getItem(AUTH_KEY))
  } catch {
    state.auth = null
  }
  if (state.auth && state.auth.site && state.auth.key) showDashboard()
  else signOut()
}

init()
