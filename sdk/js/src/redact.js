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
 * Deep-redacts a value, as a JSON copy: strings are redacted and capped at MAX_TEXT characters
 * (empty ones dropped), object keys with sensitive names are dropped; what JSON cannot hold
 * (functions, undefined) goes, and a cyclic or BigInt value throws.
 */
export const clean = v =>
  JSON.parse(JSON.stringify(v, (k, s) => (SENSITIVE.test(k) ? void 0 : s?.trim ? redactText(s).slice(0, MAX_TEXT) || void 0 : s)))
