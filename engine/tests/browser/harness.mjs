// Plumbing for the dashboard's browser tests: the real `ecomdash` binary on an ephemeral port over
// a temp data dir seeded by `ecomdash import`, Debian's Chromium driven by playwright-core (never
// a downloaded browser), HTTP helpers and polling.
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { chromium } from 'playwright-core'

const HERE = dirname(fileURLToPath(import.meta.url))
export const REPO = resolve(HERE, '../../..')
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const CI = !!process.env.CI && process.env.CI !== 'false'

/** Why the suite is skipped, or false. Under CI a missing browser is a failure, not a skip. */
export const skipReason =
  !existsSync(CHROMIUM) && !CI
    ? `dashboard browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); CI=true makes this a failure`
    : false

export function binary() {
  const target = process.env.CARGO_TARGET_DIR || join(REPO, 'target')
  const bin = process.env.ECOMDASH_BIN || join(target, 'debug', 'ecomdash')
  if (!existsSync(bin)) {
    throw new Error(`no daemon binary at ${bin}: run \`cargo build -p ecomdash-engine --bin ecomdash\` first or set ECOMDASH_BIN`)
  }
  return bin
}

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

function cleanEnv() {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ECOMDASH_') && k !== 'RUST_LOG') env[k] = v
  env.ECOMDASH_LOG = 'warn'
  return env
}

export const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
]
const PAGES = ['/', '/shoes', '/shoes/runner-2', '/bags', '/bags/tote', '/sale', '/about', '/cart', '/checkout', '/blog/sizing-guide']
const REFERRERS = ['', '', 'https://www.google.com/', 'https://duckduckgo.com/', 'https://t.co/x', 'https://news.example/post']
const CAMPAIGNS = ['', '', '', 'black-friday', 'newsletter-11', 'retargeting']

/**
 * Deterministic NDJSON of `days` days of shop traffic ending `now` (xorshift, fixed seed): 60 by
 * default, so the last 30 days have a previous period to compare with.
 */
export function trafficNdjson(now = Date.now(), days = 60) {
  let seed = 0x9e3779b97f4a7c15n
  const rand = () => {
    seed ^= seed << 13n
    seed &= 0xffffffffffffffffn
    seed ^= seed >> 7n
    seed ^= seed << 17n
    seed &= 0xffffffffffffffffn
    return Number(seed % 1000000n) / 1000000
  }
  const pick = list => list[Math.floor(rand() * list.length)]
  const lines = []
  let order = 0
  for (let day = days - 1; day >= 0; day--) {
    const dayStart = now - (day + 1) * 86_400_000
    const sessions = 30 + Math.floor(rand() * 25) + (day % 7 < 2 ? 15 : 0)
    for (let s = 0; s < sessions; s++) {
      let ts = dayStart + Math.floor(rand() * 86_000_000)
      if (ts > now - 60_000) ts = now - 60_000 - Math.floor(rand() * 3_600_000)
      const ip = `198.51.${Math.floor(rand() * 200)}.${Math.floor(rand() * 250) + 1}`
      const ua = pick(AGENTS)
      const campaign = pick(CAMPAIGNS)
      const query = campaign ? `?utm_source=mail&utm_medium=email&utm_campaign=${campaign}` : ''
      let referrer = campaign ? '' : pick(REFERRERS)
      const views = 1 + Math.floor(rand() * rand() * 6)
      for (let v = 0; v < views; v++) {
        const path = v === 0 ? pick(PAGES.slice(0, 6)) : pick(PAGES)
        lines.push({ type: 'pageview', url: `https://shop.example${path}${v === 0 ? query : ''}`, referrer, ts, user_agent: ua, ip, title: path })
        referrer = ''
        ts += 5_000 + Math.floor(rand() * 90_000)
      }
      if (rand() < 0.08) {
        order++
        const value = Math.round((20 + rand() * 180) * 100) / 100
        lines.push({
          type: 'ecommerce', name: 'purchase', url: 'https://shop.example/checkout', ts, user_agent: ua, ip,
          ecommerce: { order_id: `order_${order}`, order_value: value, order_currency: 'USD' },
        })
      }
    }
  }
  return lines.map(l => JSON.stringify(l)).join('\n') + '\n'
}

/**
 * A stopped data dir with site `demo` and imported traffic, then the daemon serving it.
 * Returns {url, keys, stop()}.
 */
export async function startDaemon() {
  const bin = binary()
  const dir = mkdtempSync(join(tmpdir(), 'ecomdash-dash-'))
  const data = join(dir, 'data')
  const env = cleanEnv()
  // A daemon with a QUIC listener would bind its fixed default UDP port, which parallel test
  // daemons share: these tests speak HTTP only, so switch it off where the daemon has it.
  if (execFileSync(bin, ['serve', '--help'], { env, encoding: 'utf8' }).includes('ECOMDASH_QUIC')) env.ECOMDASH_QUIC = 'off'
  const keys = JSON.parse(execFileSync(bin, ['site', 'add', 'demo', '--data-dir', data], { env, encoding: 'utf8' }))
  const file = join(dir, 'events.ndjson')
  writeFileSync(file, trafficNdjson())
  execFileSync(bin, ['import', file, '--site', 'demo', '--data-dir', data], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  let { child, url } = await serve(bin, data, env, '127.0.0.1:0')
  return {
    url,
    keys,
    /** SIGTERM, then serve the same data dir on the same address again. */
    async restart() {
      await terminate(child)
      ;({ child } = await serve(bin, data, env, new URL(url).host))
    },
    async stop() {
      await terminate(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function serve(bin, data, env, addr) {
  const child = spawn(bin, ['serve', '--http', addr, '--data-dir', data], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('daemon did not start within 30 s')), 30_000)
    child.on('exit', code => reject(new Error(`daemon exited with ${code}`)))
    createInterface({ input: child.stdout }).on('line', line => {
      const m = line.match(/^listening on (http:\/\/\S+)/)
      if (m) {
        clearTimeout(timer)
        resolveUrl(m[1])
      }
    })
  })
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, 'daemon health')
  return { child, url }
}

async function terminate(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(r => child.once('exit', r))
  child.kill('SIGTERM')
  await Promise.race([exited, new Promise(r => setTimeout(r, 15_000))])
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

/** Sends live events through the intake API with the site's write key. */
export async function track(url, writeKey, events, userAgent = AGENTS[0]) {
  const response = await fetch(`${url}/api/v1/analytics/track/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': writeKey, 'user-agent': userAgent },
    body: JSON.stringify({ events }),
  })
  if (response.status !== 202) throw new Error(`intake answered ${response.status}: ${await response.text()}`)
  return response.json()
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
