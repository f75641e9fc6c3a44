// Shared e2e plumbing: the browser (Debian's /usr/bin/chromium driven by playwright-core, never a
// downloaded one), the skip rule, fresh contexts that cannot reach past 127.0.0.1, and polling.
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const CI = !!process.env.CI && process.env.CI !== 'false'

/**
 * Why the suite is skipped, or false. A missing browser skips only outside CI; under CI it is
 * an error, reported by `launch`.
 */
export const skipReason =
  !existsSync(CHROMIUM) && !CI
    ? `e2e skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); CI=true makes this a failure`
    : false

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`CI: no Chromium at ${CHROMIUM}; install it with apt-get install chromium`)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
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
 * A fresh context (own localStorage, no cookies) whose requests beyond `origin` are aborted, and
 * a page in it. Uncaught page exceptions are collected in `errors`: the tracker must never cause one.
 */
export async function openPage(browser, origin, options = {}) {
  const context = await browser.newContext(options)
  await context.route(
    url => !url.href.startsWith(origin),
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
