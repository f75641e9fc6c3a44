import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createQueue, BATCH_SIZE, MAX_BATCH, MAX_QUEUED, WAIT_MS, MAX_AGE_MS } from '../../src/queue.js'

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
  let online = false
  const calls = []
  const q = createQueue(events => {
    calls.push(events.map(e => e.event_id))
    return online ? Promise.resolve() : Promise.reject(new Error('offline'))
  })
  const old = ev(Date.now() - MAX_AGE_MS - 1)
  q.add(old)
  const fresh = Array.from({ length: MAX_QUEUED + 50 }, () => ev())
  fresh.forEach(q.add)
  mock.timers.tick(WAIT_MS)
  await settle()
  online = true
  calls.length = 0
  q.send()
  for (let i = 0; i < 10; i++) await settle()
  const sent = calls.flat()
  assert.ok(calls.every(c => c.length <= MAX_BATCH), 'no request exceeds MAX_BATCH')
  // Batches that failed concurrently are put back in the order they failed, so which events the
  // bound dropped is not asserted, only how many and that none repeats.
  assert.equal(sent.length, MAX_QUEUED)
  assert.equal(new Set(sent).size, MAX_QUEUED)
  assert.ok(sent.every(id => fresh.some(e => e.event_id === id)))
  assert.ok(!sent.includes(old.event_id), 'the 72-hour-old event was dropped')
})

test('send() (page hide, back online) hands the whole queue over at once', async t => {
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
  assert.equal(calls.length, 1, 'nothing is left to send')
})

test('a backlog goes out in requests of at most MAX_BATCH, each after the last succeeded', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const { calls, post } = transport(['fail'])
  const q = createQueue(post)
  const backlog = Array.from({ length: MAX_BATCH + 15 }, () => ev())
  q.add(backlog[0])
  mock.timers.tick(WAIT_MS)
  await settle() // the first send failed: backoff, so adding more does not send
  backlog.slice(1).forEach(q.add)
  assert.equal(calls.length, 1)
  q.send()
  for (let i = 0; i < 5; i++) await settle()
  assert.deepEqual(calls.slice(1).map(c => c.ids.length), [MAX_BATCH, 15])
  assert.deepEqual(calls.slice(1).flatMap(c => c.ids), backlog.map(e => e.event_id))
  assert.ok(MAX_QUEUED <= 100 && MAX_BATCH <= 100, 'one request never exceeds the server batch limit')
})
