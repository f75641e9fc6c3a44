import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildEvent, uuid } from '../../src/event.js'

const context = {
  url: 'https://shop.example/p/shoes?utm_source=google&email=jane%40example.com',
  title: 'Shoes for jane@example.com',
  ts: 1767225600123,
  visitor_id: uuid(),
  screen: { w: 1920, h: 1080 },
  viewport: { w: 1280, h: 720 },
  lang: 'en-US',
}

test('event ids are unique and survive redaction', () => {
  const ids = new Set(Array.from({ length: 1000 }, uuid))
  assert.equal(ids.size, 1000)
  for (const id of [...ids].slice(0, 50)) {
    assert.match(id, /^\d+_\d+_\d+_\d+$/)
    assert.equal(buildEvent('custom', {}, { visitor_id: id }).visitor_id, id)
  }
})

test('builds the wire event with the design field names, redacted', () => {
  const e = buildEvent('pageview', { referrer: 'https://www.google.com/?q=x' }, context)
  assert.deepEqual(Object.keys(e).sort(), [
    'event_id', 'lang', 'referrer', 'screen', 'title', 'ts', 'type', 'url', 'viewport', 'visitor_id',
  ])
  assert.equal(e.type, 'pageview')
  assert.equal(e.name, undefined, 'the daemon defaults the name to the type')
  assert.equal(e.url, 'https://shop.example/p/shoes?utm_source=google&')
  assert.equal(e.title, 'Shoes for [email]')
  assert.equal(e.ts, context.ts)
  assert.equal(e.visitor_id, context.visitor_id)
  assert.deepEqual(e.screen, { w: 1920, h: 1080 })
})

test('own fields override the context', () => {
  const e = buildEvent('ecommerce', { name: 'purchase', ecommerce: { order_id: 'o1', order_value: 10, customer_email: 'a@b.co' } }, context)
  assert.equal(e.name, 'purchase')
  assert.deepEqual(e.ecommerce, { order_id: 'o1', order_value: 10 })
  assert.equal(buildEvent('click', { url: 'https://x.example/' }, context).url, 'https://x.example/')
})
