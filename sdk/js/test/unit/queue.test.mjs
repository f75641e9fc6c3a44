import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createQueue, BATCH_SIZE, MAX_BATCH, MAX_QUEUED, WAIT_MS, MAX_AGE_MS } from '../../src/queue.js'

// A transport that records every batch and answers from a script of outcomes ('ok' | 'fail'):
// true for done, a rejection for "retry later".
const transport = outcomes => {
  const calls = []
  const post = events => {
    calls.push({ ids: events.map(e => e.event_id) })
    return outcomes.shift() === 'fail' ? Promise.reject(new Error('offline')) : Promise.resolve(true)
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
  const q = createQueue(post, () => {})
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
  const q = createQueue(post, () => {})
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

test('a falsy answer (offline, a 5xx) and a synchronous throw are failures too: retried, then sent once', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const answers = [() => false, () => Promise.resolve(false), () => Promise.resolve(undefined), () => { throw new Error('beacon') }, () => 'sent']
  const calls = []
  const q = createQueue(events => (calls.push(events.map(e => e.event_id)), answers.shift()()), () => {})
  const e = ev()
  q.add(e)
  mock.timers.tick(WAIT_MS)
  for (const backoffMs of [1e3, 2e3, 4e3, 8e3]) {
    await settle()
    mock.timers.tick(backoffMs - 1)
    const before = calls.length
    mock.timers.tick(1)
    assert.equal(calls.length, before + 1, `retried after ${backoffMs} ms`)
  }
  await settle()
  assert.equal(calls.length, 5)
  assert.ok(calls.every(c => c.length === 1 && c[0] === e.event_id))
  mock.timers.tick(120e3)
  await settle()
  assert.equal(calls.length, 5, 'nothing is sent again after success')
})

test('send() retries at once (the page came back online)', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const { calls, post } = transport(['fail', 'ok'])
  const q = createQueue(post, () => {})
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
  let saved = []
  const q = createQueue(
    events => {
      calls.push(events.map(e => e.event_id))
      return online ? Promise.resolve(true) : Promise.reject(new Error('offline'))
    },
    events => (saved = events.slice())
  )
  const old = ev(Date.now() - MAX_AGE_MS - 1)
  q.add(old)
  const fresh = Array.from({ length: MAX_QUEUED + 50 }, () => ev())
  fresh.forEach(q.add)
  mock.timers.tick(WAIT_MS)
  await settle()
  assert.equal(saved.length, MAX_QUEUED, 'what is saved is bounded too')
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
  const q = createQueue(post, () => {})
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
  const q = createQueue(post, () => {})
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

test('the saved queue: every change is saved without the batch in flight, and a new page sends it', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const saves = []
  let answer = 'fail'
  const calls = []
  const q = createQueue(
    events => {
      calls.push(events.map(e => e.event_id))
      return answer === 'ok' ? Promise.resolve(true) : Promise.reject(new Error('offline'))
    },
    events => saves.push(events.map(e => e.event_id))
  )
  const [a, b] = [ev(), ev()]
  q.add(a)
  q.add(b)
  assert.deepEqual(saves.at(-1), [a.event_id, b.event_id], 'saved as soon as queued')
  mock.timers.tick(WAIT_MS)
  assert.deepEqual(saves.at(-1), [], 'the batch in flight is not in the saved queue')
  await settle()
  assert.deepEqual(saves.at(-1), [a.event_id, b.event_id], 'a failed batch is saved again')

  // The page goes away; the next one starts from what was saved (as JSON), and sends it once.
  const stored = JSON.parse(JSON.stringify([a, b]))
  saves.length = 0
  answer = 'ok'
  const next = createQueue(events => (calls.push(events.map(e => e.event_id)), Promise.resolve(true)), events => saves.push(events.map(e => e.event_id)), stored)
  assert.deepEqual(saves[0], [a.event_id, b.event_id])
  next.send()
  await settle()
  assert.deepEqual(calls.at(-1), [a.event_id, b.event_id], 'the same event ids: the daemon counts them once')
  assert.deepEqual(saves.at(-1), [])
})

test('a saved queue that is old, damaged or not an array is tolerated', async t => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1e12 })
  t.after(() => mock.timers.reset())
  const fresh = ev()
  for (const [stored, expected] of [
    [[ev(Date.now() - MAX_AGE_MS - 1), null, 7, 'x', fresh], [fresh.event_id]],
    // An object with a time is taken for an event: the daemon judges it (and rejects it alone).
    [{ ts: Date.now() }, [undefined]],
    [null, []],
    ['[]', []],
    [undefined, []],
  ]) {
    const calls = []
    const q = createQueue(events => calls.push(events.map(e => e.event_id)), () => {}, stored)
    q.send()
    await settle()
    assert.deepEqual(calls.flat(), expected, JSON.stringify(stored))
  }
})
