// HTTPS_PROXY / HTTP_PROXY / NO_PROXY read as Go's net/http reads them (skopeo's behaviour): a table of
// environments and URLs, the good and the malformed.
import t from 'tap';
import { proxyFor, proxyRules } from '../../src/sys/proxy.js';

/** The proxy's display for `url` under `env`, or 'direct'. */
function route(env: NodeJS.ProcessEnv, url: string): string {
  const u = new URL(url);
  const p = proxyFor(proxyRules(env), u.protocol, u.hostname, u.port);
  return p ? `${p.display} ${p.variable}` : 'direct';
}

t.test('which variable, and how a value is read', async (t) => {
  const rows: Array<[NodeJS.ProcessEnv, string, string]> = [
    [{}, 'https://registry.example.com/v2/', 'direct'],
    [{ HTTPS_PROXY: 'http://proxy:3128' }, 'https://registry.example.com/v2/', 'http://proxy:3128 HTTPS_PROXY'],
    [{ https_proxy: 'http://proxy:3128' }, 'https://registry.example.com/v2/', 'http://proxy:3128 https_proxy'],
    // Go: the upper-case name first.
    [{ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2' }, 'https://r.example/', 'http://upper:1 HTTPS_PROXY'],
    [{ HTTPS_PROXY: '', https_proxy: 'http://lower:2' }, 'https://r.example/', 'http://lower:2 https_proxy'],
    // No fallback from one scheme's variable to the other's.
    [{ HTTP_PROXY: 'http://proxy:3128' }, 'https://registry.example.com/', 'direct'],
    [{ HTTPS_PROXY: 'http://proxy:3128' }, 'http://registry.example.com/', 'direct'],
    [{ HTTP_PROXY: 'http://plain:80', HTTPS_PROXY: 'http://secure:443' }, 'http://r.example/', 'http://plain:80 HTTP_PROXY'],
    // host[:port] without a scheme is http://; the default ports are the scheme's.
    [{ HTTPS_PROXY: 'proxy.corp.example:8080' }, 'https://r.example/', 'http://proxy.corp.example:8080 HTTPS_PROXY'],
    [{ HTTPS_PROXY: '10.1.2.3:3128' }, 'https://r.example/', 'http://10.1.2.3:3128 HTTPS_PROXY'],
    [{ HTTPS_PROXY: 'localhost' }, 'https://r.example/', 'http://localhost:80 HTTPS_PROXY'],
    [{ HTTPS_PROXY: 'https://proxy.corp.example' }, 'https://r.example/', 'https://proxy.corp.example:443 HTTPS_PROXY'],
    // Kept (and refused when used, with a message): socks5 and unknown schemes.
    [{ HTTPS_PROXY: 'socks5://127.0.0.9' }, 'https://r.example/', 'socks5://127.0.0.9:1080 HTTPS_PROXY'],
    // Unusable values are ignored, as Go ignores them.
    [{ HTTPS_PROXY: 'http://' }, 'https://r.example/', 'direct'],
    [{ HTTPS_PROXY: '::::' }, 'https://r.example/', 'direct'],
  ];
  for (const [env, url, want] of rows) t.equal(route(env, url), want, `${JSON.stringify(env)} ${url}`);
});

t.test('credentials in the proxy URL: a Basic header, and never in the display', async (t) => {
  const rules = proxyRules({ HTTPS_PROXY: 'http://us%65r:p%40ss%3Aword@proxy:3128' });
  const p = rules.https!;
  t.equal(p.authorization, `Basic ${Buffer.from('user:p@ss:word').toString('base64')}`, 'percent-decoded, as Go decodes them');
  t.equal(p.display, 'http://proxy:3128');
  t.notMatch(p.url.href, /p%40ss|user|us%65r/, 'the URL kept has no userinfo');
  t.equal(proxyRules({ HTTPS_PROXY: 'http://proxy:3128' }).https!.authorization, undefined);
});

t.test('NO_PROXY and loopback', async (t) => {
  const noProxy = [
    'corp.example',
    '.subs-only.example',
    '*.wild.example',
    '192.168.1.1',
    '192.168.1.2:444',
    '192.168.1.3:443',
    '10.0.0.0/30',
    '2001:db8::52:0:1',
    '[2001:db8::52:0:3]:443',
    '2002:db8:a::45/64',
    'mirror.example:5000',
    ' spaced.example ',
  ].join(',');
  const env = { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy };
  const direct: string[] = [
    // Loopback is never proxied, whatever NO_PROXY says (Go's useProxy).
    'localhost', '127.0.0.1', '127.9.9.9', '[::1]', '[::ffff:127.0.0.1]',
    'corp.example', 'registry.corp.example', 'a.b.corp.example', 'CORP.EXAMPLE',
    'x.subs-only.example', 'nested.wild.example',
    '192.168.1.1', '192.168.1.3', '10.0.0.2', '10.0.0.3', '[::ffff:10.0.0.1]',
    '[2001:db8::52:0:1]', '[2001:db8::52:0:3]', '[2002:db8:a::123]',
    'mirror.example:5000', 'spaced.example',
  ];
  const proxied: string[] = [
    '[::2]', 'notcorp.example', 'corp.example.net', 'subs-only.example', 'wild.example', 'awild.example',
    '192.168.1.2', '192.168.1.4', '10.0.0.4', '[2001:db8::52:0:2]', '[fe80::1]', 'mirror.example', 'mirror.example:5001',
    'local.localhost', 'localhost.example',
  ];
  for (const h of direct) t.equal(route(env, `https://${h}/`), 'direct', `${h} direct`);
  for (const h of proxied) t.equal(route(env, `https://${h}/`), 'http://proxy:3128 HTTPS_PROXY', `${h} proxied`);
  t.equal(route({ ...env, NO_PROXY: '*' }, 'https://anything.example/'), 'direct', '* turns the proxy off');
  t.equal(route({ ...env, NO_PROXY: 'a.example, *' }, 'https://anything.example/'), 'direct', '* anywhere in the list');
  t.equal(route({ HTTPS_PROXY: 'http://p:1', no_proxy: 'anything.example' }, 'https://anything.example/'), 'direct', 'no_proxy');
  t.equal(route({ HTTPS_PROXY: 'http://p:1', NO_PROXY: ':1,,/8,300.1.1.1/8,[]:5' }, 'https://r.example/'), 'http://p:1 HTTPS_PROXY', 'malformed entries are ignored');
});
