// Delivery queue: batches events by size and time, puts failed batches back at the head of the
// queue (bounded) and retries them with exponential backoff, drops events older than the
// server's 72-hour window. The transport and the storage are injected, so it is tested in node
// (with mocked timers).
//
// `post(events)` sends one batch of at most MAX_BATCH events. It returns (a promise of) a truthy
// value for "done"; a falsy value, a throw or a rejection mean "retry later". `send()` sends now (page hide, back online)
// and goes on with the rest of the queue after each success; the caller's `post` picks the
// transport. `save(events)` is called with the queue (bounded, without the batch in flight) after
// every change: the balanced and off privacy modes keep it in localStorage, strict mode nowhere.
// `stored` is what an earlier page saved.

export const MAX_AGE_MS = 2592e5 // 72 h
export const BATCH_SIZE = 10 // queued events that trigger a send at once
// Bounded offline queue: past it the events at the head are dropped, normally the oldest (failed
// batches go back to the head in the order they failed, so concurrent failures can reorder them).
export const MAX_QUEUED = 100
// Events per request: beacon and keepalive bodies must stay under 64 KB. The tracker's own events
// are well under 1.5 KB (every string is capped at 500 characters), so 30 fit; only calls with
// large props or long order_items can exceed it (the server takes 100 per batch).
export const MAX_BATCH = 30
export const WAIT_MS = 2e3 // a lone event waits this long for company
export const MAX_BACKOFF_MS = 6e4

export const createQueue = (post, save, stored) => {
  let queue
  let timer
  let backoffMs = 0
  // Drops what is too old or past the bound, then saves.
  const keep = events => save((queue = events.filter(e => e?.ts > Date.now() - MAX_AGE_MS).slice(-MAX_QUEUED)))

  // Async only for `await`: it runs synchronously up to the post and never rejects (post's
  // exceptions are caught; `save` must not throw: the tracker passes a guarded one).
  const send = async () => {
    clearTimeout(timer)
    timer = 0
    keep(queue)
    const batch = queue.splice(0, MAX_BATCH)
    if (batch[0]) {
      save(queue)
      try {
        if (await post(batch)) return send((backoffMs = 0))
      } catch {}
      keep(batch.concat(queue))
      timer = setTimeout(send, (backoffMs = Math.min(backoffMs * 2 || 1e3, MAX_BACKOFF_MS)))
    }
  }
  keep([].concat(stored))

  return {
    add: e => (keep(queue.concat(e)), queue.length < BATCH_SIZE || backoffMs ? timer || (timer = setTimeout(send, WAIT_MS)) : send()),
    send,
  }
}
