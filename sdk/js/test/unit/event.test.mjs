import { test } from 'node:test'
import assert from 'node:assert/strict'
import { uuid } from '../../src/event.js'
import { clean } from '../../src/redact.js'

// A wire event as src/index.js `track` builds it before its JSON copy through `redact` (the e2e
// suite checks the built events field by field in Chromium).
const event = id => ({
  type: 'pageview',
  event_id: id,
  url: 'https://shop.example/p/shoes?utm_source=google&email=jane%40example.com',
  title: 'Shoes for jane@example.com',
  ts: 1767225600123,
  visitor_id: id,
  screen: { w: 1920, h: 1080 },
  viewport: { w: 1280, h: 720 },
  lang: 'en-US',
  referrer: 'https://www.google.com/?q=x',
})

test('event ids are unique and survive redaction', () => {
  const ids = new Set(Array.from({ length: 1000 }, uuid))
  assert.equal(ids.size, 1000)
  for (const id of [...ids].slice(0, 50)) {
    assert.match(id, /^\d+_\d+_\d+_\d+$/)
    const e = clean(event(id))
    assert.equal(e.event_id, id)
    assert.equal(e.visitor_id, id)
  }
})

test('the whole wire event is redacted, its other fields kept', () => {
  const id = uuid()
  const e = clean(event(id))
  assert.deepEqual(e, {
    ...event(id),
    url: 'https://shop.example/p/shoes?utm_source=google&',
    title: 'Shoes for [email]',
  })
})
