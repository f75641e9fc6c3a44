// Small SVG charts for the dashboard: a line/area chart for time series and a bar chart for the
// live per-minute pageviews. No dependencies. Charts are drawn at the container's pixel width and
// redrawn when it changes, so text never stretches; each SVG has role="img" and a text summary.

const NS = 'http://www.w3.org/2000/svg'

function el(name, attrs = {}, parent) {
  const node = document.createElementNS(NS, name)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  if (parent) parent.appendChild(node)
  return node
}

/** A "nice" upper bound and tick step for values up to `max`. */
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: ticks, step: 1 }
  // Counts: never a fractional tick.
  if (max <= ticks) return { top: Math.max(1, Math.ceil(max)), step: 1 }
  const raw = max / ticks
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map(m => m * magnitude).find(s => s >= raw)
  return { top: step * ticks, step }
}

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 })

/** Redraws `draw(width, height)` whenever `container` changes size. */
function responsive(container, draw) {
  let width = 0
  let height = 0
  const redraw = () => {
    const w = Math.round(container.clientWidth)
    const h = Math.round(container.clientHeight)
    if (w > 0 && (w !== width || h !== height)) {
      width = w
      height = h
      draw(w, h)
    }
  }
  if (container._chartObserver) container._chartObserver.disconnect()
  const observer = new ResizeObserver(redraw)
  observer.observe(container)
  container._chartObserver = observer
  redraw()
}

/**
 * Line chart. `labels`: x labels (strings); `series`: [{name, values, className}]; the first
 * series is also filled as an area. `describe`: text for screen readers.
 */
export function lineChart(container, { labels, series, describe, minHeight = 220 }) {
  responsive(container, (width, available) => {
    const height = Math.max(minHeight, available)
    container.textContent = ''
    const pad = { left: 44, right: 12, top: 12, bottom: 28 }
    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': describe })
    const innerW = width - pad.left - pad.right
    const innerH = height - pad.top - pad.bottom
    const max = Math.max(0, ...series.flatMap(s => s.values))
    const { top, step } = niceScale(max)
    const n = labels.length
    const x = i => pad.left + (n <= 1 ? innerW / 2 : (i * innerW) / (n - 1))
    const y = v => pad.top + innerH - (v / top) * innerH
    const grid = el('g', { class: 'grid' }, svg)
    for (let v = 0; v <= top + step / 2; v += step) {
      el('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }, grid)
      const t = el('text', { x: pad.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, grid)
      t.textContent = compact.format(v)
    }
    // At most one label per 70 px, evenly spread, always the first and the last.
    const fit = Math.min(n, Math.max(2, Math.floor(innerW / 70)))
    const shown = new Set(Array.from({ length: fit }, (_, j) => Math.round((j * (n - 1)) / Math.max(1, fit - 1))))
    labels.forEach((label, i) => {
      if (!shown.has(i)) return
      const anchor = n > 1 && i === 0 ? 'start' : n > 1 && i === n - 1 ? 'end' : 'middle'
      const t = el('text', { x: x(i), y: height - 8, 'text-anchor': anchor, class: 'axis' }, grid)
      t.textContent = label
    })
    series.forEach((s, index) => {
      if (!s.values.length) return
      const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`)
      if (index === 0) {
        el('path', { d: `M${x(0)},${y(0)}L${points.join('L')}L${x(n - 1)},${y(0)}Z`, class: `area ${s.className}` }, svg)
      }
      el('path', { d: `M${points.join('L')}`, class: `line ${s.className}` }, svg)
      if (n <= 60) s.values.forEach((v, i) => el('circle', { cx: x(i), cy: y(v), r: 2.5, class: `dot ${s.className}` }, svg))
    })
    // Hover: one invisible column per point with a native tooltip and a shared highlight line.
    const hover = el('g', { class: 'hover' }, svg)
    const cursor = el('line', { y1: pad.top, y2: pad.top + innerH, class: 'cursor', visibility: 'hidden' }, svg)
    const colW = n <= 1 ? innerW : innerW / (n - 1)
    labels.forEach((label, i) => {
      const rect = el('rect', { x: x(i) - colW / 2, y: pad.top, width: colW, height: innerH, fill: 'transparent' }, hover)
      const title = el('title', {}, rect)
      title.textContent = `${label}: ` + series.map(s => `${s.name} ${s.values[i] ?? 0}`).join(', ')
      rect.addEventListener('mouseenter', () => {
        cursor.setAttribute('x1', x(i))
        cursor.setAttribute('x2', x(i))
        cursor.setAttribute('visibility', 'visible')
      })
      rect.addEventListener('mouseleave', () => cursor.setAttribute('visibility', 'hidden'))
    })
    const legend = el('g', { class: 'legend' }, svg)
    let lx = pad.left
    series.forEach(s => {
      el('rect', { x: lx, y: 2, width: 10, height: 3, class: `key ${s.className}` }, legend)
      const t = el('text', { x: lx + 14, y: 8, class: 'axis' }, legend)
      t.textContent = s.name
      lx += 24 + s.name.length * 7
    })
    container.appendChild(svg)
  })
}

/** Bar chart of `values` (oldest first), e.g. pageviews per minute. */
export function barChart(container, { values, labels, describe, height = 72 }) {
  responsive(container, width => {
    container.textContent = ''
    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': describe })
    const max = Math.max(1, ...values)
    const slot = width / Math.max(1, values.length)
    const gap = Math.min(3, slot * 0.25)
    values.forEach((v, i) => {
      const h = v > 0 ? Math.max(2, (v / max) * (height - 4)) : 1
      const bar = el('rect', { x: i * slot + gap / 2, y: height - h, width: Math.max(1, slot - gap), height: h, rx: 1.5, class: v > 0 ? 'bar' : 'bar empty' }, svg)
      const title = el('title', {}, bar)
      title.textContent = `${labels[i]}: ${v}`
    })
    container.appendChild(svg)
  })
}
