import { test } from 'node:test'
import assert from 'node:assert/strict'
import { redactText, clean, MAX_TEXT } from '../../src/redact.js'

test('e-mail addresses are redacted, also percent-encoded inside URLs', () => {
  assert.equal(redactText('mail jane.doe+shop@example.co.uk now'), 'mail [email] now')
  assert.equal(redactText('https://s.example/u/jane%40example.com/orders'), 'https://s.example/u/[email]/orders')
})

test('card-like digit runs are redacted, shorter numbers are kept', () => {
  assert.equal(redactText('card 4111 1111 1111 1111 ok'), 'card [card] ok')
  assert.equal(redactText('4111-1111-1111-1111'), '[card]')
  assert.equal(redactText('pan=4111111111111111&x=1'), 'pan=[card]&x=1')
  assert.equal(redactText('order 123456789012 of 2024'), 'order 123456789012 of 2024')
})

test('sensitive query and fragment parameters are removed, others kept', () => {
  assert.equal(
    redactText('https://s.example/p?utm_source=news&email=a%40b.com&token=abc&q=shoes#access_token=xyz&state=1'),
    'https://s.example/p?utm_source=news&&&q=shoes#&state=1'
  )
  assert.equal(redactText('https://s.example/reset?password=hunter2'), 'https://s.example/reset?')
  for (const k of ['Email', 'user_email', 'auth', 'api_key', 'apikey', 'session_id', 'pwd', 'passwd', 'card_number', 'cvv', 'phone', 'secret'])
    assert.equal(redactText(`https://s.example/?${k}=v&keep=1`), 'https://s.example/?&keep=1', k)
})

test('plain text with question marks and ampersands is left alone', () => {
  assert.equal(redactText("Q&A: what's new?"), "Q&A: what's new?")
  assert.equal(redactText('Cool Shoes | Shop'), 'Cool Shoes | Shop')
})

test('clean redacts deeply, drops sensitive keys and keeps types', () => {
  const input = {
    plan: 'pro',
    contact: 'jane@example.com',
    email: 'x',
    password: 'y',
    count: 3,
    paid: true,
    none: null,
    nested: { note: 'card 4111111111111111', token: 't' },
    order_items: [{ product_id: 'p1', quantity: 2, price: 9.5 }, 'jane@example.com'],
  }
  assert.deepEqual(clean(input), {
    plan: 'pro',
    contact: '[email]',
    count: 3,
    paid: true,
    none: null,
    nested: { note: 'card [card]' },
    order_items: [{ product_id: 'p1', quantity: 2, price: 9.5 }, '[email]'],
  })
  assert.equal(input.email, 'x', 'the caller object is not modified')
})

test('clean caps strings, drops empty strings and what JSON cannot carry', () => {
  const out = clean({ long: 'a'.repeat(MAX_TEXT + 50), empty: '', list: ['', 'x'], f: () => 1, u: undefined, zero: 0 })
  assert.equal(out.long.length, MAX_TEXT)
  assert.deepEqual({ ...out, long: 0 }, { long: 0, list: [null, 'x'], zero: 0 })
  // A cyclic object throws (the tracker then drops that one event) instead of looping.
  const cyclic = {}
  cyclic.self = cyclic
  assert.throws(() => clean({ props: cyclic }))
  // More than 32 props are not cut here: the daemon rejects that event (MAX_PROPS), not its batch.
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => ['k' + i, i]))
  assert.equal(Object.keys(clean(many)).length, 40)
})
