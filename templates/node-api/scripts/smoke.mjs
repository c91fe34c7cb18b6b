// Smoke test of a built app: starts it with PORT=0, reads the address it prints, expects 200 from /healthz.
// Usage: node scripts/smoke.mjs path/to/app.js
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import process from 'node:process';

const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/smoke.mjs path/to/app.js');
  process.exit(2);
}
const child = spawn(process.execPath, [entry], {
  env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const timer = setTimeout(() => {
  console.error(`smoke: ${entry} did not answer within 10 s`);
  child.kill('SIGKILL');
  process.exit(1);
}, 10_000);
try {
  const [line] = await once(child.stdout, 'data');
  const m = /listening on (http:\/\/[0-9.]+:[0-9]+)/.exec(line.toString());
  if (!m) {
    throw new Error(`did not start: ${line}`);
  }
  const res = await fetch(`${m[1]}/healthz`);
  const body = await res.json();
  if (res.status !== 200 || body.status !== 'ok') {
    throw new Error(`/healthz answered ${res.status} ${JSON.stringify(body)}`);
  }
  console.log(`smoke: ${entry}: /healthz ok`);
} catch (e) {
  console.error(`smoke: ${e.message}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  child.kill('SIGTERM');
}
