// localSourceDir: the local directory a build's source names, known before the source is prepared (an in-image
// build leaves it out of the snapshot it takes while the source is fetched).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { localSourceDir } from '../../src/pipeline/source.js';

const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'local-source-')));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const app = path.join(tmp, 'app');
fs.mkdirSync(app);
fs.symlinkSync(app, path.join(tmp, 'link'));
fs.writeFileSync(path.join(tmp, 'file'), 'x');

t.equal(localSourceDir(app), app, 'a directory path');
t.equal(localSourceDir(path.join(tmp, 'link')), app, 'its real path (the snapshot compares real paths)');
t.equal(localSourceDir(path.relative(process.cwd(), app)), app, 'a relative path');
t.equal(localSourceDir(pathToFileURL(app).href), app, 'a file:// URL');
t.equal(localSourceDir(`${pathToFileURL(app).href}#main`), app, 'a file:// URL with a ref');
t.equal(localSourceDir('https://github.com/sclorg/django-ex.git'), undefined, 'a git URL: none');
t.equal(localSourceDir('git@github.com:sclorg/django-ex.git'), undefined, 'an scp-like git address: none');
t.equal(localSourceDir(path.join(tmp, 'missing')), undefined, 'a missing path: none');
t.equal(localSourceDir(path.join(tmp, 'file')), undefined, 'a file: none');
