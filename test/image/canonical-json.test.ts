import t from 'tap';
import { canonicalJson } from '../../src/image/canonical-json.js';

t.test('canonicalJson', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [3, { d: null, c: 'x' }], e: true }), '{"a":[3,{"c":"x","d":null}],"b":1,"e":true}');
  t.equal(canonicalJson({ a: undefined, b: () => 1 }), '{}');
  t.equal(canonicalJson([undefined, 1]), '[null,1]');
  t.equal(canonicalJson('é\u2028"'), JSON.stringify('é\u2028"'));
  t.equal(canonicalJson({ Z: 1, a: 2, _: 3 }), '{"Z":1,"_":3,"a":2}', 'code unit order');
  for (const v of [{ x: NaN }, { x: Infinity }, [1n], { s: Symbol('x') }]) {
    t.throws(() => canonicalJson(v), { code: 'ERR_JSON_INVALID' });
  }
  const samples = [{ nested: { deep: [1, 2, { k: 'v' }] } }, [], {}, 'str', 0, -1.5, null];
  for (const s of samples) t.same(JSON.parse(canonicalJson(s)), s);
});
