// images-by-semver as Masterminds/semver v3 reads it (the library skopeo sync uses): which tags a constraint
// keeps, as a table, and constraints that do not parse.
import t from 'tap';
import { compareVersions, matchesConstraint, parseConstraint, parseVersion } from '../../src/sync/semver.js';

const tags = ['0.0.3', '0.0.4', '0.1.0', '0.2.3', '0.3.0', '1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.4-beta.1', '1.2.9', '1.3.0', '1.10.0', '2.0.0-rc.1', '2.0.0', '3.12.0', 'latest', '1.2.3.4', 'v'];

const rows: Array<[string, string[]]> = [
  ['>= 3.12.0', ['3.12.0']],
  ['1.2.3', ['1.2.3']],
  ['=1.2', ['v1.2.0', '1.2.3', '1.2.9']],
  ['1.2.x', ['v1.2.0', '1.2.3', '1.2.9']],
  ['!= 1.2.x, 1.x', ['1', '1.0.0', '1.3.0', '1.10.0']],
  ['>1.2', ['1.3.0', '1.10.0', '2.0.0', '3.12.0']],
  ['> 1.2.3 < 1.3', ['1.2.9']],
  ['<=1.2', ['0.0.3', '0.0.4', '0.1.0', '0.2.3', '0.3.0', '1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.9']],
  ['~1.2.3', ['1.2.3', '1.2.9']],
  ['~1', ['1', '1.0.0', 'v1.2.0', '1.2.3', '1.2.9', '1.3.0', '1.10.0']],
  ['^1.2.3', ['1.2.3', '1.2.9', '1.3.0', '1.10.0']],
  ['^0.2.3', ['0.2.3']],
  ['^0.0.3', ['0.0.3']],
  ['^0.0', ['0.0.3', '0.0.4']],
  ['^0', ['0.0.3', '0.0.4', '0.1.0', '0.2.3', '0.3.0']],
  ['1.2 - 1.3', ['v1.2.0', '1.2.3', '1.2.9', '1.3.0']],
  ['< 1 || >= 3', ['0.0.3', '0.0.4', '0.1.0', '0.2.3', '0.3.0', '3.12.0']],
  ['>= 1.2.4-beta.0, < 1.2.5', ['1.2.4-beta.1'], ],
  ['>= 2.0.0-rc.0', ['2.0.0-rc.1', '2.0.0', '3.12.0']],
  ['*', tags.filter((x) => !['latest', '1.2.3.4', 'v', '1.2.4-beta.1', '2.0.0-rc.1'].includes(x))],
];

t.test('which tags a constraint keeps', async (t) => {
  for (const [c, want] of rows) {
    const parsed = parseConstraint(c);
    t.same(tags.filter((tag) => matchesConstraint(parsed, tag)), want, c);
  }
});

t.test('versions', async (t) => {
  t.same(parseVersion('v1.2'), { major: 1, minor: 2, patch: 0, prerelease: [] });
  t.same(parseVersion('1.2.3-rc.1+build.5'), { major: 1, minor: 2, patch: 3, prerelease: ['rc', '1'] });
  for (const bad of ['latest', '1.2.3.4', '', 'v', '1..2', '01a']) t.equal(parseVersion(bad), undefined, bad);
  const order = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0'];
  for (let i = 1; i < order.length; i++) t.equal(compareVersions(parseVersion(order[i - 1]!)!, parseVersion(order[i]!)!), -1, `${order[i - 1]} < ${order[i]}`);
});

t.test('constraints that do not parse', async (t) => {
  for (const bad of ['', '>= one', '1.2.3.4', '=> =>', '|| 1', '~', 'latest']) t.throws(() => parseConstraint(bad), /is not a semver constraint/, bad);
});
