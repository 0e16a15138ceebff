import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { postCallback } from '../../src/s2i/callback.js';
import type { ProgressEvent } from '../../src/events.js';

t.test('callback: POSTs JSON, retries once on 5xx, warns on failure', async (t) => {
  const got: Array<{ url: string; type: string | undefined; body: unknown }> = [];
  let failFirst = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ url: req.url!, type: req.headers['content-type'], body: JSON.parse(body) });
      if (req.url === '/flaky' && failFirst++ === 0) return void res.writeHead(503).end();
      if (req.url === '/down') return void res.writeHead(500).end();
      if (req.url!.startsWith('/bad')) return void res.writeHead(400).end();
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const events: ProgressEvent[] = [];
  const onProgress = (e: ProgressEvent): void => void events.push(e);

  const ok = await postCallback(`${base}/ok`, { success: true, labels: { a: 'b' } }, { onProgress });
  t.same(ok, { ok: true, status: 200, attempts: 1 });
  t.same(got[0], { url: '/ok', type: 'application/json', body: { success: true, labels: { a: 'b' } } });

  const flaky = await postCallback(`${base}/flaky`, { success: false, labels: {} }, { onProgress });
  t.equal(flaky.ok, true);
  t.equal(flaky.attempts, 2);

  const down = await postCallback(`${base}/down`, { success: true, labels: {} }, { onProgress });
  t.same([down.ok, down.attempts, down.status], [false, 2, 500]);
  const bad = await postCallback(`${base}/bad?token=secret`, { success: true, labels: {} }, { onProgress });
  t.same([bad.ok, bad.attempts], [false, 1], '4xx is not retried');
  t.equal(events.length, 2);
  t.ok(events.every((e) => e.type === 'log' && e.level === 'warn'));
  t.notMatch(JSON.stringify(events), /secret/, 'query redacted');

  const invalid = await postCallback('ftp://x', { success: true, labels: {} }, { onProgress });
  t.equal(invalid.ok, false);
  const s2 = http.createServer();
  await new Promise<void>((r) => s2.listen(0, '127.0.0.1', r));
  const port = (s2.address() as AddressInfo).port;
  await new Promise<void>((r) => s2.close(() => r()));
  const refused = await postCallback(`http://127.0.0.1:${port}/`, { success: true, labels: {} }, { timeoutMs: 2000 });
  t.same([refused.ok, refused.attempts], [false, 2]);
});
