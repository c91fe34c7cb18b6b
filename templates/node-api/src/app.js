// {{app}}: a small JSON HTTP API on Node's built-ins only (node:http), with /healthz for probes.
// Run it with `PORT=8080 node src/app.js`; HOST defaults to 127.0.0.1 (set HOST to listen elsewhere, e.g. in a
// container).
import http from 'node:http';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

import { ItemStore, ValidationError } from './store.js';

export const APP_NAME = '{{app}}';
export const MAX_BODY = 64 * 1024;
const DEFAULT_PORT = 8080;

// The TCP port from env.PORT (default 8080); 0 asks the kernel for a free one.
export function readPort(env) {
  const raw = env.PORT ?? String(DEFAULT_PORT);
  if (!/^[0-9]+$/.test(raw) || Number(raw) > 65535) {
    throw new RangeError(`PORT must be a number from 0 to 65535, not '${raw}'`);
  }
  return Number(raw);
}

function send(res, status, body) {
  const data = body === undefined ? '' : JSON.stringify(body);
  const headers = {
    'Content-Length': Buffer.byteLength(data),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  res.writeHead(status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

function fail(res, status, message) {
  send(res, status, { error: message });
}

// Reads a JSON body of at most MAX_BODY bytes; answers the error itself and resolves undefined on failure.
function readJson(req, res) {
  return new Promise((resolve) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (type !== 'application/json') {
      fail(res, 415, 'send the item as application/json');
      resolve(undefined);
      return;
    }
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) {
      fail(res, 413, `the body is larger than ${MAX_BODY} bytes`);
      resolve(undefined);
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        fail(res, 413, `the body is larger than ${MAX_BODY} bytes`);
        req.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        fail(res, 400, `malformed JSON: ${e.message}`);
        resolve(undefined);
      }
    });
    req.on('error', () => resolve(undefined));
  });
}

// The id in /api/items/<id>, null for /api/items, -1 for any other path.
function itemId(url) {
  const path = url.split('?')[0].replace(/\/+$/, '');
  if (path === '/api/items') {
    return null;
  }
  const m = /^\/api\/items\/([0-9]{1,15})$/.exec(path);
  return m ? Number(m[1]) : -1;
}

async function route(store, req, res) {
  const path = req.url.split('?')[0];
  const id = itemId(req.url);
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (path === '/healthz') {
    if (read) {
      send(res, 200, { status: 'ok', app: APP_NAME });
    } else {
      fail(res, 405, `${req.method} is not allowed on /healthz`);
    }
  } else if (path === '/' && read) {
    send(res, 200, { app: APP_NAME, endpoints: ['GET /healthz', 'GET /api/items', 'POST /api/items',
      'GET /api/items/<id>', 'DELETE /api/items/<id>'] });
  } else if (id === -1) {
    fail(res, 404, 'no such route');
  } else if (read) {
    const item = id === null ? { items: store.list() } : store.get(id);
    if (item) {
      send(res, 200, item);
    } else {
      fail(res, 404, `no item ${id}`);
    }
  } else if (req.method === 'POST' && id === null) {
    const data = await readJson(req, res);
    if (data !== undefined) {
      try {
        send(res, 201, store.add(data));
      } catch (e) {
        if (!(e instanceof ValidationError)) {
          throw e;
        }
        fail(res, 400, e.message);
      }
    }
  } else if (req.method === 'DELETE' && id !== null) {
    if (store.remove(id)) {
      send(res, 204);
    } else {
      fail(res, 404, `no item ${id}`);
    }
  } else {
    fail(res, 405, `${req.method} is not allowed on ${path}`);
  }
}

// An HTTP server answering the routes over store (a new ItemStore by default); call listen() on it.
export function createServer(store = new ItemStore(), { accessLog = true } = {}) {
  return http.createServer((req, res) => {
    if (accessLog) {
      res.on('finish', () => process.stderr.write(`${req.method} ${req.url} ${res.statusCode}\n`));
    }
    route(store, req, res).catch((e) => {
      process.stderr.write(`${APP_NAME}: ${e.stack}\n`);
      if (!res.headersSent) {
        fail(res, 500, 'internal error');
      }
    });
  });
}

// Listens on HOST:PORT, prints the address, and closes on SIGTERM. Returns the server.
export function main(env = process.env) {
  const port = readPort(env);
  const host = env.HOST ?? '127.0.0.1';
  const server = createServer();
  server.listen(port, host, () => {
    console.log(`${APP_NAME} listening on http://${host}:${server.address().port}`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
