// PII redaction: every string of an event that comes from the page or the site's own calls (URL,
// referrer, title, props, ecommerce, error, selector) passes through `clean` before it leaves the
// browser. Pure (no DOM), unit-tested in node.

/** Query parameter and property names whose values are never sent. */
export const SENSITIVE = /mail|token|pass|pwd|secret|auth|key|sess|card|cvv|ssn|phone/i

/** Longest string sent, in characters (the server's props-value limit). */
export const MAX_TEXT = 500

/**
 * Removes `name=value` pairs with sensitive names (as in query strings and fragments), then
 * replaces e-mail addresses (also percent-encoded, as inside URLs) with "[email]" and
 * card-number-like runs of 13 to 19 digits (optionally grouped by spaces or dashes) with "[card]".
 */
export const redactText = s =>
  s
    .replace(/([?&#])([^=&#\s]+)=[^&#\s]*/g, (m, sep, k) => (SENSITIVE.test(k) ? sep : m))
    .replace(/[\w.+-]+(@|%40)[\w.-]+/g, '[email]')
    .replace(/\b\d([ -]?\d){12,18}\b/g, '[card]')

/**
 * Deep-redacts a value: strings are redacted and capped at MAX_TEXT characters (empty ones dropped), arrays are
 * cleaned entry by entry, objects lose the keys with sensitive names and keep at most 32 keys.
 */
export const clean = v => {
  if (v?.trim) return redactText(v).slice(0, MAX_TEXT) || void 0
  if (v?.map) return v.map(clean)
  if (v !== Object(v)) return v // not an object (also across frames)
  const copy = {}
  let left = 32
  for (const k in v) SENSITIVE.test(k) || left-- < 1 || (copy[k] = clean(v[k]))
  return copy
}
