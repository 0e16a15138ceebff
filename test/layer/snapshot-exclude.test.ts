// The exclusion tree of a root snapshot: API file systems, given paths, and the mount points of mountinfo.
import t from 'tap';
import { excludeTree, type ExcludeNode } from '../../src/layer/snapshot-exclude.js';

/** The excluded paths of a tree, sorted. */
function paths(node: ExcludeNode, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, child] of node.children) {
    const p = prefix === '' ? name : `${prefix}/${name}`;
    if (child.excluded) out.push(p);
    out.push(...paths(child, p));
  }
  return out.sort();
}

const MOUNTINFO = [
  '22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l',
  '23 22 0:22 / /proc rw - proc proc rw',
  '24 22 0:5 / /etc/hosts rw - ext4 /dev/vda rw',
  '25 22 0:6 / /workspace/my\\040source rw - ext4 /dev/vda rw',
  '26 22 0:7 / /srv/tab\\011and\\134back rw - tmpfs tmpfs rw',
  '27 22 0:8 / /rootfs/inner rw - tmpfs tmpfs rw',
  '',
].join('\n');

const cases: Array<{ name: string; root: string; exclude: string[]; want: string[] }> = [
  { name: 'root "/": every mount point, escapes decoded', root: '/', exclude: [],
    want: ['dev', 'etc/hosts', 'proc', 'srv/tab\tand\\back', 'sys', 'workspace/my source', 'rootfs/inner'].sort() },
  { name: 'a sub-root: only the mounts below it, relative', root: '/rootfs', exclude: [],
    want: ['dev', 'inner', 'proc', 'sys'] },
  { name: 'given paths with or without a leading slash, . and // ignored', root: '/rootfs', exclude: ['/opt/engine', 'workspace//./src/'],
    want: ['dev', 'inner', 'opt/engine', 'proc', 'sys', 'workspace/src'] },
  { name: 'a root that is a prefix of a name is not its parent', root: '/root', exclude: [], want: ['dev', 'proc', 'sys'] },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(paths(excludeTree(c.root, c.exclude, MOUNTINFO)), c.want);
  });
}

t.test('paths outside the root are refused', async (t) => {
  for (const bad of ['..', '../x', 'a/../../b', '/', '', '.']) {
    t.throws(() => excludeTree('/', [bad], ''), { code: 'ERR_SNAPSHOT_EXCLUDE' }, JSON.stringify(bad));
  }
});
