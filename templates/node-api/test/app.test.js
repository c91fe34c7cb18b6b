import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { APP_NAME, MAX_BODY, createServer, main, readPort } from '../src/app.js';
import { ItemStore } from '../src/store.js';

describe('readPort', () => {
  it('reads PORT, 8080 by default', () => {
    assert.equal(readPort({}), 8080);
    assert.equal(readPort({ PORT: '9000' }), 9000);
    assert.equal(readPort({ PORT: '0' }), 0);
  });

  it('refuses garbage', () => {
    for (const bad of ['', 'http', '-1', '65536', '80 ']) {
      assert.throws(() => readPort({ PORT: bad }), RangeError);
    }
  });
});

describe('the API (createServer on a free loopback port)', () => {
  let server;
  let base;

  before(async () => {
    server = createServer(new ItemStore(3), { accessLog: false });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${server.address().port}`;
  });

  after(() => server.close());

  const post = (path, body, headers = { 'Content-Type': 'application/json' }) =>
    fetch(base + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('lists its endpoints at /', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.ok(body.endpoints.includes('GET /api/items'));
  });

  it('answers /healthz', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(await res.json(), { status: 'ok', app: APP_NAME });
    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('creates, gets, lists and deletes an item', async () => {
    const created = await post('/api/items', { name: 'bolts', quantity: 4 });
    assert.equal(created.status, 201);
    const item = await created.json();
    assert.deepEqual(item, { id: 1, name: 'bolts', quantity: 4 });
    assert.deepEqual(await (await fetch(`${base}/api/items/1`)).json(), item);
    assert.deepEqual(await (await fetch(`${base}/api/items`)).json(), { items: [item] });
    assert.equal((await fetch(`${base}/api/items/1`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(`${base}/api/items/1`)).status, 404);
    assert.equal((await fetch(`${base}/api/items/1`, { method: 'DELETE' })).status, 404);
  });

  it('answers bad input with 400, 413 and 415', async () => {
    const invalid = await post('/api/items', { name: '' });
    assert.equal(invalid.status, 400);
    assert.match((await invalid.json()).error, /name/);
    const malformed = await post('/api/items', '{not json');
    assert.equal(malformed.status, 400);
    assert.match((await malformed.json()).error, /malformed JSON/);
    assert.equal((await post('/api/items', 'name=a', { 'Content-Type': 'text/plain' })).status, 415);
    assert.equal((await post('/api/items', JSON.stringify({ name: 'x'.repeat(MAX_BODY) }))).status, 413);
  });

  it('refuses items past the store limit', async () => {
    for (const name of ['a', 'b', 'c']) {
      await post('/api/items', { name });
    }
    const res = await post('/api/items', { name: 'one too many' });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /full/);
  });

  it('answers unknown routes and methods', async () => {
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/api/items/abc`)).status, 404);
    assert.equal((await post('/api/items/1', { name: 'a' })).status, 405);
    assert.equal((await post('/healthz', { name: 'a' })).status, 405);
    assert.equal((await fetch(`${base}/api/items`, { method: 'DELETE' })).status, 405);
    assert.equal((await fetch(`${base}/api/items`, { method: 'PUT' })).status, 405);
  });
});

describe('main', () => {
  it('refuses a bad PORT', () => {
    assert.throws(() => main({ PORT: 'http' }), RangeError);
  });

  it('serves until SIGTERM', async () => {
    const app = fileURLToPath(new URL('../src/app.js', import.meta.url));
    const child = spawn(process.execPath, [app], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1' } });
    try {
      const [line] = await once(child.stdout, 'data');
      const m = /listening on (http:\/\/127\.0\.0\.1:[0-9]+)/.exec(line.toString());
      assert.ok(m, `unexpected first line: ${line}`);
      assert.equal((await fetch(`${m[1]}/healthz`)).status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });
});
