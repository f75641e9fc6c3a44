// The e2e fixture server: serves the shop fixture (test/fixture/), plain pages a test sets, and the
// built tracker, and is the tracker's intake: it forwards every batch to the real daemon (the same
// path) with the browser's headers, answers with the daemon's status and body, and records what
// went over the wire, so tests can check the transport (beacon or fetch, content type) as well as
// what the daemon stored.
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
export const BATCH_PATH = '/api/v1/analytics/track/batch'

/**
 * Starts the server on 127.0.0.1:0. `batches` holds every batch POST received: its parsed body,
 * raw text, content type, `sec-fetch-mode` (sendBeacon sends "no-cors", the tracker's fetch "cors")
 * the status and the body answered. `tracker` sets the attributes of the script tag pages get.
 */
export async function startServer(daemon) {
  const batches = []
  const pages = {}
  const state = { tracker: {}, failNext: 0, failMarker: '', lastBatchAt: 0 }

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1')
      if (req.method === 'POST' && url.pathname === BATCH_PATH) {
        let text = ''
        for await (const chunk of req) text += chunk
        state.lastBatchAt = Date.now()
        let body
        try {
          body = JSON.parse(text)
        } catch {
          body = null
        }
        let status
        let answer
        if (state.failNext > 0 && text.includes(state.failMarker)) {
          state.failNext--
          status = 503
          answer = '<html>overloaded</html>'
        } else {
          const r = await fetch(daemon + BATCH_PATH, {
            method: 'POST',
            body: text,
            // The browser's own headers, so the daemon enriches as if the page had called it.
            headers: Object.fromEntries(
              ['content-type', 'user-agent', 'accept-language']
                .filter(h => req.headers[h])
                .map(h => [h, req.headers[h]])
            ),
          })
          status = r.status
          answer = await r.text()
        }
        const record = {
          body,
          text,
          contentType: req.headers['content-type'],
          fetchMode: req.headers['sec-fetch-mode'],
          at: Date.now(),
          status,
          answer,
        }
        batches.push(record)
        res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' })
        res.end(answer)
        return
      }
      if (url.pathname === '/analytics-sdk.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' })
        res.end(await readFile(root + 'dist/analytics-sdk.js'))
        return
      }
      if (pages[url.pathname]) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(pages[url.pathname])
        return
      }
      const page = url.pathname === '/' ? '/index.html' : url.pathname.startsWith('/spa/') ? '/spa.html' : url.pathname
      if (!/^\/[\w-]+\.html$/.test(page)) {
        res.writeHead(404).end()
        return
      }
      const html = await readFile(root + 'test/fixture' + page, 'utf8')
      const attrs = Object.entries(state.tracker)
        .map(([k, v]) => ` data-${k}="${v}"`)
        .join('')
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(html.replace('{{TRACKER}}', `<script src="/analytics-sdk.js"${attrs} defer></script>`))
    } catch (e) {
      res.writeHead(500).end(String(e))
    }
  })
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    origin,
    batches,
    /** Every event received, in arrival order. */
    events: () => batches.flatMap(b => b.body?.events ?? []),
    /** Serves `html` at `path` (a plain page, without the fixture's script tag). */
    setPage: (path, html) => (pages[path] = html),
    /** Script tag attributes (`api-key`, `privacy`, ...) for the next pages served. */
    setTracker: attrs => (state.tracker = attrs),
    /** Answers the next `n` batches whose body contains `marker` with 503 and an HTML body. */
    failNext: (n, marker = '') => Object.assign(state, { failNext: n, failMarker: marker }),
    /** Milliseconds since the last batch arrived. */
    quietMs: () => Date.now() - state.lastBatchAt,
    reset: () => {
      batches.length = 0
      state.failNext = 0
    },
    close: () => new Promise(resolve => server.close(resolve)),
  }
}
