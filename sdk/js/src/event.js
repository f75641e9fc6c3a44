// Builds one wire event (DESIGN.md "Event model"). Pure: the caller passes the page context, so it
// is tested in node.
import { clean } from './redact.js'

/**
 * A random id: 128 bits from crypto.getRandomValues (works outside secure contexts too), as four
 * decimal numbers joined by "_", so it never looks like a card number to the redaction.
 */
export const uuid = () => crypto.getRandomValues(new Uint32Array(4)).join('_')

/**
 * The whole event is redacted (ids are safe: see `uuid`). `context` holds the page fields
 * (url, title, ts, ids, screen, lang), `fields` the event's own and may override them.
 * `name` defaults to `type`.
 */
export const buildEvent = (type, fields, context) =>
  clean({ type, event_id: uuid(), ...context, ...fields })
