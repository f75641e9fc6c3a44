import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createQueue, BATCH_SIZE, MAX_QUEUED, WAIT_MS, MAX_AGE_MS } from '../../src/queue.js'

// A transport that records every batch and answers from a script of outcomes ('ok' | 'fail').
const transport = outcomes => {
  const calls = []
  const post = events => {
    calls.push({ ids: events.map(e => e.event_id) })
    return outcomes.shift() === 'fail' ? Promise.reject(new Error('offline')) : Promise.resolve()
  }
  return { calls, post }
}
let n = 0
const ev = (ts = Date.now()) => ({ event_id: 'e' + n++, ts })
// Lets the promise callbacks of the queue run.
const settle = () => new Promise(r => setImmediate(r))

test('a lone event is sent after the wait, a full batch at once', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const { calls, post } = transport([])
  const q = createQueue(post)
  q.add(ev())
  assert.equal(calls.length, 0)
  mock.timers.tick(WAIT_MS)
  assert.equal(calls.length, 1)
  await settle()
  for (let i = 0; i < BATCH_SIZE; i++) q.add(ev())
  assert.equal(calls.length, 2)
  assert.equal(calls[1].ids.length, BATCH_SIZE)
})

test('a failed batch is retried with backoff, with the same event ids, and never twice after success', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const { calls, post } = transport(['fail', 'fail', 'ok'])
  const q = createQueue(post)
  const events = [ev(), ev(), ev()]
  events.forEach(q.add)
  mock.timers.tick(WAIT_MS)
  await settle()
  mock.timers.tick(999)
  assert.equal(calls.length, 1, 'first retry waits 1 s')
  mock.timers.tick(1)
  await settle()
  mock.timers.tick(1999)
  assert.equal(calls.length, 2, 'second retry waits 2 s')
  mock.timers.tick(1)
  await settle()
  assert.equal(calls.length, 3)
  for (const c of calls) assert.deepEqual(c.ids, events.map(e => e.event_id))
  mock.timers.tick(120e3)
  await settle()
  assert.equal(calls.length, 3, 'nothing is sent again after success')
})

test('send() retries at once (the page came back online)', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const { calls, post } = transport(['fail', 'ok'])
  const q = createQueue(post)
  q.add(ev())
  mock.timers.tick(WAIT_MS)
  await settle()
  q.send()
  await settle()
  assert.equal(calls.length, 2)
  assert.deepEqual(calls[0].ids, calls[1].ids)
})

test('the offline queue is bounded and drops events older than 72 hours', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const { calls, post } = transport(Array(100).fill('fail'))
  const q = createQueue(post)
  const old = ev(Date.now() - MAX_AGE_MS - 1)
  q.add(old)
  for (let i = 0; i < MAX_QUEUED + 50; i++) q.add(ev())
  mock.timers.tick(WAIT_MS)
  await settle()
  calls.length = 0
  q.send()
  assert.equal(calls.length, 1)
  const sent = calls[0].ids
  assert.equal(sent.length, MAX_QUEUED, 'the oldest events beyond the bound were dropped')
  assert.ok(!sent.includes(old.event_id), 'the 72-hour-old event was dropped')
  assert.equal(new Set(sent).size, sent.length)
})

test('send() (page hide, back online) hands every queued event over in one request', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const { calls, post } = transport([])
  const q = createQueue(post)
  const events = Array.from({ length: BATCH_SIZE - 1 }, () => ev())
  events.forEach(q.add)
  assert.equal(calls.length, 0, 'below the batch size, events wait')
  q.send()
  assert.equal(calls.length, 1)
  assert.deepEqual(calls[0].ids, events.map(e => e.event_id))
  await settle()
  mock.timers.tick(WAIT_MS)
  q.send()
  assert.equal(calls.length, 1, 'nothing is left to send')
  assert.ok(MAX_QUEUED <= 100, 'one request never exceeds the server batch limit')
})
