// Shared e2e plumbing: the browser (Debian's /usr/bin/chromium driven by playwright-core, never a
// downloaded one), the real `ecomdash` daemon on an ephemeral port over a temp data dir, the skip
// rule, fresh contexts that cannot reach past 127.0.0.1, and polling.
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { chromium } from 'playwright-core'

const REPO = resolve(fileURLToPath(new URL('../../../../', import.meta.url)))
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
/** The daemon binary: ECOMDASH_BIN, else the debug build of the workspace (`cargo build -p ecomdash-engine`). */
export const DAEMON = process.env.ECOMDASH_BIN || join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'debug', 'ecomdash')
const CI = !!process.env.CI && process.env.CI !== 'false'
const ADMIN_TOKEN = 'e2e-admin-token-0123456789'

/**
 * Why the suite is skipped, or false. A missing browser or daemon binary skips only outside CI;
 * under CI it is an error, reported by `launch` or `startDaemon`.
 */
export const skipReason = CI
  ? false
  : !existsSync(CHROMIUM)
    ? `e2e skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); CI=true makes this a failure`
    : !existsSync(DAEMON)
      ? `e2e skipped: no daemon binary at ${DAEMON} (cargo build -p ecomdash-engine --bin ecomdash, or set ECOMDASH_BIN); CI=true makes this a failure`
      : false

/**
 * The browser's User-Agent without "Headless". Headless Chromium says "HeadlessChrome", which the
 * daemon rightly classifies as a bot and leaves out of the summary and realtime figures; a shop's
 * visitors use the real browser. Set on the command line, not per context: Chromium sends a
 * page-hide beacon with the browser's own User-Agent, not a context's override.
 */
function userAgent() {
  const version = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).match(/(\d+\.[\d.]+)/)?.[1] ?? '130.0.0.0'
  return `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${version} Safari/537.36`
}

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`CI: no Chromium at ${CHROMIUM}; install it with apt-get install chromium`)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      `--user-agent=${userAgent()}`,
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/**
 * A fresh context (own localStorage, no cookies) whose requests beyond `origins` are aborted, and
 * a page in it. Uncaught page exceptions are collected in `errors`: the tracker must never cause one.
 */
export async function openPage(browser, origins, options = {}) {
  const context = await browser.newContext({ locale: 'en-US', ...options })
  const allowed = [origins].flat()
  await context.route(
    url => !allowed.some(o => url.href.startsWith(o)),
    route => route.abort()
  )
  const page = await context.newPage()
  const errors = []
  page.on('pageerror', e => errors.push(e))
  return { context, page, errors }
}

/** Polls `check` every 50 ms until it returns something truthy; fails after `timeoutMs`. */
export async function waitFor(check, what, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(r => setTimeout(r, 50))
  }
}

/**
 * The real daemon (`ecomdash serve`) on 127.0.0.1:0 over a temp data dir, QUIC off, with an admin
 * token so each test adds its own site. Returns {url, addSite(domain), read(site, path), query(site,
 * sql), stop()}; a site is {domain, write_key, read_key}.
 */
export async function startDaemon() {
  if (!existsSync(DAEMON)) throw new Error(`CI: no daemon binary at ${DAEMON}; run cargo build -p ecomdash-engine --bin ecomdash or set ECOMDASH_BIN`)
  const dir = mkdtempSync(join(tmpdir(), 'ecomdash-sdk-e2e-'))
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ECOMDASH_') && k !== 'RUST_LOG') env[k] = v
  Object.assign(env, { ECOMDASH_LOG: 'warn', ECOMDASH_QUIC: 'off', ECOMDASH_ADMIN_TOKEN: ADMIN_TOKEN })
  const child = spawn(DAEMON, ['serve', '--http', '127.0.0.1:0', '--data-dir', join(dir, 'data')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon did not start within 30 s')), 30e3)
    child.on('exit', code => reject(new Error(`daemon exited with ${code}`)))
    createInterface({ input: child.stdout }).on('line', line => {
      const m = line.match(/^listening on (http:\/\/\S+)/)
      if (m) {
        clearTimeout(timer)
        resolveUrl(m[1])
      }
    })
  })
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, 'daemon health', 30e3)

  const call = async (path, token, init = {}) => {
    const r = await fetch(url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } })
    const text = await r.text()
    if (!r.ok) throw new Error(`${path} answered ${r.status}: ${text}`)
    return JSON.parse(text)
  }
  return {
    url,
    addSite: domain =>
      call('/api/v1/admin/sites', ADMIN_TOKEN, { method: 'POST', body: JSON.stringify({ domain }), headers: { 'content-type': 'application/json' } }),
    /** GET a read endpoint with the site's read key, e.g. `/api/v1/analytics/realtime?site=...`. */
    read: (site, path) => call(path, site.read_key),
    /** POST /api/v1/query with the site's read key; rows as objects keyed by column name. */
    async query(site, sql) {
      const answer = await call('/api/v1/query', site.read_key, { method: 'POST', body: JSON.stringify({ sql }) })
      return answer.rows.map(row => Object.fromEntries(answer.columns.map((c, i) => [c.name, row[i]])))
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise(r => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise(r => setTimeout(r, 15e3))])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
