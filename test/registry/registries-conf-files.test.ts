// Which registries.conf files are read, in which order (registries-conf-files.ts): real files in temp dirs, the
// system directory moved there too (nothing under /etc is read or written).
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRegistriesConf } from '../../src/registry/registries-conf-files.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'oci-s2i-regconf-files-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A fresh system dir, home, config home and cache home. */
function layout(): { system: string; home: string; config: string; cache: string; varCache: string; env: NodeJS.ProcessEnv } {
  const d = path.join(tmp, String(n++));
  const l = { system: path.join(d, 'etc'), home: path.join(d, 'home'), config: path.join(d, 'config'), cache: path.join(d, 'cache'), varCache: path.join(d, 'var-cache') };
  for (const p of Object.values(l)) mkdirSync(p, { recursive: true });
  return { ...l, env: { HOME: l.home, XDG_CONFIG_HOME: l.config, XDG_CACHE_HOME: l.cache, OCI_S2I_NAMESPACE: 'userns' } };
}

function put(file: string, text: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

t.test('the system file, then its drop-ins in lexical order, then the user\'s drop-ins', async (t) => {
  const l = layout();
  const sys = put(path.join(l.system, 'registries.conf'), 'unqualified-search-registries = ["a.io"]\n[[registry]]\nlocation = "quay.io"\n[[registry.mirror]]\nlocation = "first.local"');
  const d1 = put(path.join(l.system, 'registries.conf.d', '10-b.conf'), 'unqualified-search-registries = ["b.io"]');
  const d2 = put(path.join(l.system, 'registries.conf.d', '02-a.conf'), '[[registry]]\nlocation = "quay.io"\n[[registry.mirror]]\nlocation = "second.local"');
  put(path.join(l.system, 'registries.conf.d', 'notes.txt'), 'not toml at all [[[');
  put(path.join(l.system, 'registries.conf.d', 'sub', 'x.conf'), 'not toml at all [[[');
  const u = put(path.join(l.config, 'containers', 'registries.conf.d', '00-user.conf'), 'short-name-mode = "disabled"');
  const c = await loadRegistriesConf({ env: l.env, systemDir: l.system });
  t.same(c.files, [sys, d2, d1, u], '*.conf regular files only, lexical order per directory, system before user');
  t.same(c.search, ['b.io']);
  t.equal(c.searchOrigin, d1);
  t.equal(c.shortNameMode, 'disabled');
  t.equal(c.registries.find((r) => r.prefix === 'quay.io')?.mirrors[0]?.location, 'second.local', 'a later file replaces the prefix');
});

t.test('the user\'s registries.conf replaces the system file and the system drop-ins ($XDG_CONFIG_HOME, else ~/.config)', async (t) => {
  const l = layout();
  put(path.join(l.system, 'registries.conf'), 'unqualified-search-registries = ["system.io"]');
  put(path.join(l.system, 'registries.conf.d', 'x.conf'), 'unqualified-search-registries = ["system-dropin.io"]');
  const user = put(path.join(l.config, 'containers', 'registries.conf'), 'unqualified-search-registries = ["user.io"]');
  const c = await loadRegistriesConf({ env: l.env, systemDir: l.system });
  t.same(c.files, [user]);
  t.same(c.search, ['user.io']);
  const home = put(path.join(l.home, '.config', 'containers', 'registries.conf'), 'unqualified-search-registries = ["home.io"]');
  const { XDG_CONFIG_HOME: _x, ...noXdg } = l.env;
  t.same((await loadRegistriesConf({ env: noXdg, systemDir: l.system })).files, [home], 'without XDG_CONFIG_HOME: ~/.config');
});

t.test('CONTAINERS_REGISTRIES_CONF: that file only, and it must exist', async (t) => {
  const l = layout();
  put(path.join(l.system, 'registries.conf.d', 'x.conf'), 'unqualified-search-registries = ["dropin.io"]');
  put(path.join(l.cache, 'containers', 'short-name-aliases.conf'), '[aliases]\n"x" = "cache.io/x"');
  const only = put(path.join(tmp, `only-${n}.conf`), 'unqualified-search-registries = ["only.io"]');
  const c = await loadRegistriesConf({ env: { ...l.env, CONTAINERS_REGISTRIES_CONF: only }, systemDir: l.system });
  t.same(c.files, [only]);
  t.same(c.search, ['only.io']);
  t.equal(c.aliasCache.size, 0, 'no alias cache either');
  await t.rejects(loadRegistriesConf({ env: { ...l.env, CONTAINERS_REGISTRIES_CONF: path.join(tmp, 'nope.conf') }, systemDir: l.system }), {
    code: 'ERR_REGISTRIES_CONF',
    message: /CONTAINERS_REGISTRIES_CONF names .*nope\.conf, which does not exist/,
  });
  await t.rejects(loadRegistriesConf({ env: { ...l.env, CONTAINERS_REGISTRIES_CONF: tmp }, systemDir: l.system }), { code: 'ERR_REGISTRIES_CONF', message: /is a directory/ });
});

t.test('no file at all: the empty configuration; podman\'s recorded aliases are read', async (t) => {
  const l = layout();
  const c = await loadRegistriesConf({ env: l.env, systemDir: l.system });
  t.same(c.files, []);
  t.same(c.registries, []);
  put(path.join(l.cache, 'containers', 'short-name-aliases.conf'), '[aliases]\n"x" = "cache.io/x"');
  t.equal((await loadRegistriesConf({ env: l.env, systemDir: l.system })).aliasCache.get('x')?.value, 'cache.io/x', 'rootless: $XDG_CACHE_HOME/containers');
  put(path.join(l.varCache, 'short-name-aliases.conf'), '[aliases]\n"x" = "root.io/x"');
  const asRoot = await loadRegistriesConf({ env: { ...l.env, OCI_S2I_NAMESPACE: 'root' }, systemDir: l.system, systemCacheDir: l.varCache });
  t.equal(asRoot.aliasCache.get('x')?.value, process.geteuid?.() === 0 ? 'root.io/x' : 'cache.io/x', 'root: /var/cache/containers');
});

t.test('a broken file fails the load with its name and line', async (t) => {
  const l = layout();
  const f = put(path.join(l.system, 'registries.conf.d', '50-bad.conf'), '\n[[registry]]\nlocation = "a.io"\nlocaton = "b.io"\n');
  await t.rejects(loadRegistriesConf({ env: l.env, systemDir: l.system }), { code: 'ERR_REGISTRIES_CONF', message: `${f}:4: unknown key "locaton" in [[registry]]; the keys of [[registry]] are prefix, location, insecure, blocked, mirror-by-digest-only, mirror` });
});
