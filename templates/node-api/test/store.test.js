import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ItemStore, MAX_ITEMS, MAX_NAME, MAX_QUANTITY, ValidationError, validateItem } from '../src/store.js';

describe('validateItem', () => {
  it('accepts and cleans an item', () => {
    assert.deepEqual(validateItem({ name: '  bolts ', quantity: 3 }), { name: 'bolts', quantity: 3 });
  });

  it('defaults quantity to zero', () => {
    assert.equal(validateItem({ name: 'nuts' }).quantity, 0);
  });

  it('refuses what is not an object', () => {
    for (const bad of [null, [], 'name', 3]) {
      assert.throws(() => validateItem(bad), { name: 'ValidationError', message: /JSON object/ });
    }
  });

  it('refuses unknown fields', () => {
    assert.throws(() => validateItem({ name: 'a', price: 1 }), /unknown field 'price'/);
  });

  it('refuses bad names', () => {
    for (const bad of ['', '   ', 5, null, 'x'.repeat(MAX_NAME + 1)]) {
      assert.throws(() => validateItem({ name: bad }), ValidationError);
    }
  });

  it('accepts quantities from 0 to MAX_QUANTITY', () => {
    assert.equal(validateItem({ name: 'a', quantity: 0 }).quantity, 0);
    assert.equal(validateItem({ name: 'a', quantity: MAX_QUANTITY }).quantity, MAX_QUANTITY);
  });

  it('refuses bad quantities', () => {
    for (const bad of [-1, MAX_QUANTITY + 1, 1.5, '3', true]) {
      assert.throws(() => validateItem({ name: 'a', quantity: bad }), /quantity/);
    }
  });
});

describe('ItemStore', () => {
  it('adds, gets, lists and removes', () => {
    const store = new ItemStore();
    const a = store.add({ name: 'a', quantity: 1 });
    const b = store.add({ name: 'b' });
    assert.deepEqual([a.id, b.id], [1, 2]);
    assert.deepEqual(store.get(2), { id: 2, name: 'b', quantity: 0 });
    assert.deepEqual(store.list().map((i) => i.name), ['a', 'b']);
    assert.equal(store.remove(1), true);
    assert.equal(store.remove(1), false);
    assert.equal(store.get(1), null);
  });

  it('hands out copies', () => {
    const store = new ItemStore();
    store.add({ name: 'a' }).name = 'changed';
    store.list()[0].name = 'changed too';
    assert.equal(store.get(1).name, 'a');
  });

  it('holds MAX_ITEMS items by default', () => {
    const store = new ItemStore();
    for (let i = 0; i < MAX_ITEMS; i++) {
      store.add({ name: `item ${i}` });
    }
    assert.throws(() => store.add({ name: 'one too many' }), /full/);
  });

  it('is bounded', () => {
    const store = new ItemStore(2);
    store.add({ name: 'a' });
    store.add({ name: 'b' });
    assert.throws(() => store.add({ name: 'c' }), /full/);
  });
});
