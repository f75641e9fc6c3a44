// PII redaction: every string of an event that comes from the page or the site's own calls (URL,
// referrer, title, props, ecommerce, error, selector) passes through `redact` before it leaves the
// browser. Pure (no DOM), unit-tested in node.

/** Query parameter and property names whose values are never sent. */
export const SENSITIVE = /mail|token|pass|pwd|secret|auth|key|sess|card|cvv|ssn|phone/i

/** Longest string sent, in characters (the server's props-value limit). */
export const MAX_TEXT = 500

/**
 * The JSON replacer that redacts (the tracker passes it to JSON.stringify over the whole event):
 * a key with a sensitive name is dropped; in a string, `name=value` pairs with sensitive names
 * (as in query strings and fragments) are removed, then e-mail addresses (also percent-encoded,
 * as inside URLs) become "[email]" and card-number-like runs of 13 to 19 digits (optionally
 * grouped by spaces or dashes) "[card]"; the result is capped at MAX_TEXT characters and dropped
 * when empty. Other values are kept.
 */
export const redact = (k, s) =>
  SENSITIVE.test(k)
    ? void 0
    : s?.trim
      ? s
          .replace(/([?&#])([^=&#\s]+)=[^&#\s]*/g, (m, sep, k) => (SENSITIVE.test(k) ? sep : m))
          .replace(/[\w.+-]+(@|%40)[\w.-]+/g, '[email]')
          .replace(/\b\d([ -]?\d){12,18}\b/g, '[card]')
          .slice(0, MAX_TEXT) || void 0
      : s

/** One string, redacted as `redact` does inside an event. */
export const redactText = s => redact('', s)

/**
 * Deep-redacts a value, as a JSON copy through `redact`: what JSON cannot hold (functions,
 * undefined) goes, and a cyclic or BigInt value throws. src/index.js writes this one line out in
 * `track` (terser does not inline a call whose argument is an object literal: 4 gzipped bytes).
 */
export const clean = v => JSON.parse(JSON.stringify(v, redact))
