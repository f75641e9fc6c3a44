// Short CSS selector of a clicked element for heatmaps: at most 3 levels, stopping at an id, with
// the first class of each level. Works on any element-like object, so it is tested in node.

export const selector = el => {
  let s = ''
  for (let i = 3; el?.localName && i--; el = el.parentElement)
    s = el.localName + (el.id ? ((i = 0), '#' + el.id) : el.classList[0] ? '.' + el.classList[0] : '') + (s && '>' + s)
  return s.slice(0, 256)
}
