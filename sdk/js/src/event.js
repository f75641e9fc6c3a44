// Event ids. The tracker builds each wire event in place (src/index.js `track`: a JSON copy
// through the `redact` replacer), which the e2e suite checks field by field; a builder function
// here would cost bytes of the 2 KB budget, since terser cannot inline it.

/**
 * A random id: 128 bits from crypto.getRandomValues (works outside secure contexts too), as four
 * decimal numbers joined by "_", so it never looks like a card number to the redaction.
 */
export const uuid = () => crypto.getRandomValues(new Uint32Array(4)).join('_')
