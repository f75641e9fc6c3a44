import { test } from 'node:test'
import assert from 'node:assert/strict'
import { selector } from '../../src/selector.js'

// A minimal element-like tree: what selector() reads of a DOM element.
const el = (localName, { id = '', cls = [], parent = null } = {}) => ({
  localName,
  id,
  classList: cls,
  parentElement: parent,
})

test('stops at the nearest id', () => {
  const main = el('main', { id: 'shop' })
  const div = el('div', { cls: ['grid', 'wide', 'x'], parent: main })
  const button = el('button', { cls: ['buy'], parent: div })
  assert.equal(selector(button), 'main#shop>div.grid>button.buy')
  assert.equal(selector(el('button', { id: 'buy', parent: div })), 'button#buy')
})

test('keeps at most three levels and one class per level', () => {
  const html = el('html')
  const body = el('body', { parent: html })
  const section = el('section', { cls: ['a', 'b'], parent: body })
  const p = el('p', { parent: section })
  const span = el('span', { parent: p })
  assert.equal(selector(span), 'section.a>p>span')
})

test('stops at the document and caps the length', () => {
  const doc = { nodeType: 9, parentElement: null }
  assert.equal(selector(el('html', { parent: doc })), 'html')
  assert.equal(selector(null), '')
  assert.ok(selector(el('a', { id: 'x'.repeat(400) })).length <= 256)
})
