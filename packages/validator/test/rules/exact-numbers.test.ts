import {
  ClaimRecorder,
  canonicalNumberText,
  compileRuleSet,
  decodeRecord,
  exactJson,
  holdsRoundedNumber,
  InMemoryUniquenessTracker,
  uniqueKey,
  validateRecord,
} from '@lagscale/validator';
import { describe, expect, it } from 'vitest';

/**
 * Number literals JSON.parse rounds (integers beyond 2^53, more than ~17 significant digits, over-
 * and underflow) keep their exact value beside the decoded record, and `unique` rules compare by it.
 */

const decoded = (text: string): unknown => {
  const result = decodeRecord(Buffer.from(text, 'utf8'), { maxBytes: 1 << 20, maxDepth: 64 });
  if (!result.ok) throw new Error(result.reason);
  return result.value;
};

describe('canonicalNumberText', () => {
  it.each([
    ['1e3', '1000'],
    ['1000', '1000'],
    ['1000.0', '1000'],
    ['1E+3', '1000'],
    ['0.1e4', '1000'],
    ['10000e-1', '1000'],
    ['9007199254740993', '9007199254740993'],
    ['9007199254740993.000', '9007199254740993'],
    ['9.007199254740993e15', '9007199254740993'],
    ['-9007199254740993', '-9007199254740993'],
    ['12345678901234567890', '12345678901234567890'],
    ['123456789012345678901', '123456789012345678901'],
    ['1234567890123456789012', '1.234567890123456789012e+21'],
    ['1e21', '1e+21'],
    ['1e20', '100000000000000000000'],
    ['123e-7', '0.0000123'],
    ['1.5e-7', '1.5e-7'],
    ['-1.50E-7', '-1.5e-7'],
    ['0.000001', '0.000001'],
    ['0.0000001', '1e-7'],
    ['0', '0'],
    ['-0', '0'],
    ['-0.000e99', '0'],
    ['0.30000000000000004', '0.30000000000000004'],
    ['0.3000000000000000444', '0.3000000000000000444'],
    ['1e400', '1e+400'],
    ['-1e400', '-1e+400'],
    ['1e-400', '1e-400'],
    ['2.5e99999999999999999999', '2.5e+99999999999999999999'],
  ])('%s is %s', (literal, canonical) => {
    expect(canonicalNumberText(literal)).toBe(canonical);
  });

  it('writes a number JSON.parse keeps exactly as JavaScript does', () => {
    for (const literal of ['1', '-1', '0.1', '1e-7', '5e-324', '1.7976931348623157e308', '9007199254740992', '123.456', '1e21', '-2.5e-10', '100']) {
      expect(canonicalNumberText(literal)).toBe(String(JSON.parse(literal)));
    }
  });
});

describe('decodeRecord and exactJson', () => {
  it('keeps the exact text of each literal JSON.parse rounded, at any depth, and nothing for the others', () => {
    const text = '{"a":9007199254740993,"b":[1,12345678901234567890.5,2],"c":{"d":1e400,"e":-1e-400},"f":9007199254740992,"g":1.5}';
    const record = decoded(text);
    expect(record).toEqual(JSON.parse(text)); // the value itself is JSON.parse's
    expect(holdsRoundedNumber(record)).toBe(true);
    expect(exactJson(record)).toBe('{"a":9007199254740993,"b":[1,12345678901234567890.5,2],"c":{"d":1e+400,"e":-1e-400},"f":9007199254740992,"g":1.5}');
    const plain = decoded('{"a": 1, "b": [2.5, "x"], "c": {"d": 9007199254740991}}');
    expect(holdsRoundedNumber(plain)).toBe(false);
    expect(exactJson(plain)).toBe(JSON.stringify(plain));
  });

  it('notes nothing for long digit runs in strings and keys', () => {
    const record = decoded('{"card": "4111111111111111111", "12345678901234567890": "x", "note": "see 1e400", "ids": ["90071992547409931"]}');
    expect(holdsRoundedNumber(record)).toBe(false);
  });

  it('marks only the containers on the way to a rounded literal', () => {
    const record = decoded('{"left":{"n":9007199254740993},"right":{"n":9007199254740992},"list":[[1],[90071992547409931]]}') as Record<string, unknown>;
    const list = record.list as unknown[];
    expect([record, record.left, list, list[1]].map(holdsRoundedNumber)).toEqual([true, true, true, true]);
    expect([record.right, list[0]].map(holdsRoundedNumber)).toEqual([false, false]);
    expect(exactJson(record.left)).toBe('{"n":9007199254740993}');
    expect(exactJson(list)).toBe('[[1],[90071992547409931]]');
  });

  it('keeps the last of duplicate keys, as JSON.parse does', () => {
    expect(exactJson(decoded('{"a":9007199254740993,"a":1}'))).toBe('{"a":1}');
    expect(exactJson(decoded('{"a":1,"a":9007199254740993}'))).toBe('{"a":9007199254740993}');
    expect(exactJson(decoded('{"a":9007199254740993,"a":"x"}'))).toBe('{"a":"x"}');
    expect(exactJson(decoded('{"a":9007199254740993,"a":[9007199254740995]}'))).toBe('{"a":[9007199254740995]}');
    expect(exactJson(decoded('{"a":{"x":9007199254740993},"a":{"x":2}}'))).toBe('{"a":{"x":2}}');
    expect(exactJson(decoded('{"a":{"x":9007199254740993},"a":{"y":2}}'))).toBe('{"a":{"y":2}}');
    expect(exactJson(decoded('{"a":[9007199254740993],"a":{"0":1}}'))).toBe('{"a":{"0":1}}');
  });

  it('reads escaped keys and "__proto__" as JSON.parse does', () => {
    expect(exactJson(decoded('{"a\\"b":9007199254740993,"\\u0063":9007199254740995}'))).toBe('{"a\\"b":9007199254740993,"c":9007199254740995}');
    expect(exactJson(decoded('{"__proto__":{"n":9007199254740993}}'))).toBe('{"__proto__":{"n":9007199254740993}}');
    expect(exactJson(decoded('{"3":90071992547409931,"1":[1e999]}'))).toBe('{"1":[1e+999],"3":90071992547409931}'); // integer keys first, as JSON.stringify orders them
  });

  it('takes any white space and a byte order mark', () => {
    const record = decodeRecord(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\r\n[ \t9007199254740993 ,\n{ "k" :\t-9007199254740993e0 } ]')]), {
      maxBytes: 1000,
      maxDepth: 8,
    });
    expect(record.ok && exactJson(record.value)).toBe('[9007199254740993,{"k":-9007199254740993}]');
  });
});

describe('unique rules compare numbers by their exact value', () => {
  const compiled = compileRuleSet({
    name: 'exact',
    version: 1,
    rules: [
      { id: 'id.unique', severity: 'error', type: 'unique', field: '/id' },
      { id: 'sku.unique', severity: 'error', type: 'unique', field: '/items/*/n' },
      { id: 'customer.unique', severity: 'error', type: 'unique', field: '/customer' },
    ],
  });

  /** Validates the records in order in one job; the rules each record broke, as "ruleId path". */
  function duplicates(...records: string[]): string[][] {
    const uniqueness = new InMemoryUniquenessTracker();
    return records.map((text, index) =>
      validateRecord(compiled, decoded(text), { jobId: 'j', recordNumber: index + 1, uniqueness }).violations.map((v) => `${v.ruleId} ${v.path}`),
    );
  }

  it('the finding: 9007199254740992 and 9007199254740993 are two values; the same literal twice is a duplicate', () => {
    expect(duplicates('{"id":9007199254740992}', '{"id":9007199254740993}')).toEqual([[], []]);
    expect(duplicates('{"id":9007199254740993}', '{"id":9007199254740993}')).toEqual([[], ['id.unique /id']]);
    expect(duplicates('{"id":9007199254740992}', '{"id":9007199254740992}')).toEqual([[], ['id.unique /id']]);
    expect(duplicates('{"id":-9007199254740993}', '{"id":-9007199254740992}', '{"id":9007199254740993}')).toEqual([[], [], []]);
  });

  it('one number however it is written: 1e3, 1000 and 1000.0; 9007199254740993 and 9.007199254740993e15', () => {
    expect(duplicates('{"id":1000}', '{"id":1e3}', '{"id":1000.0}')).toEqual([[], ['id.unique /id'], ['id.unique /id']]);
    expect(duplicates('{"id":9007199254740993}', '{"id":9.007199254740993e15}', '{"id":9007199254740993.00}')).toEqual([
      [],
      ['id.unique /id'],
      ['id.unique /id'],
    ]);
    expect(duplicates('{"id":0.1}', '{"id":0.10000000000000000555}')).toEqual([[], []]);
    expect(duplicates('{"id":1e400}', '{"id":2e400}', '{"id":1E+400}')).toEqual([[], [], ['id.unique /id']]);
  });

  it('compares the values a wildcard names, within the record and across records', () => {
    expect(duplicates('{"items":[{"n":9007199254740992},{"n":9007199254740993}]}')).toEqual([[]]);
    expect(duplicates('{"items":[{"n":9007199254740993},{"n":9007199254740993}]}')).toEqual([['sku.unique /items/1/n']]);
    expect(duplicates('{"items":[{"n":9007199254740993}]}', '{"items":[{"n":1},{"n":9007199254740992},{"n":9007199254740993}]}')).toEqual([
      [],
      ['sku.unique /items/2/n'],
    ]);
  });

  it('compares objects holding such numbers by their exact JSON', () => {
    expect(duplicates('{"customer":{"id":9007199254740992,"tier":1}}', '{"customer":{"id":9007199254740993,"tier":1}}')).toEqual([[], []]);
    expect(duplicates('{"customer":{"id":9007199254740993,"tier":1}}', '{"customer":{"id":9007199254740993,"tier":1.0}}')).toEqual([
      [],
      ['customer.unique /customer'],
    ]);
    expect(duplicates('{"customer":{"ids":[[9007199254740993]]}}', '{"customer":{"ids":[[9007199254740992]]}}')).toEqual([[], []]);
  });

  it('claims the same keys as before for values JSON.parse keeps exactly (stored claims stay valid)', () => {
    const recorder = new ClaimRecorder();
    const texts = [
      '{"id":9007199254740991,"items":[{"n":1.5},{"n":"9007199254740993"}],"customer":{"b":2,"a":[1,null,true]}}',
      '{"id":"x","customer":{"big":12345678901234567890},"items":[{"n":{"z":1}}]}',
    ];
    for (const [index, text] of texts.entries()) validateRecord(compiled, decoded(text), { jobId: 'j', recordNumber: index + 1, uniqueness: recorder });
    expect(recorder.claims.map((claim) => claim.key)).toEqual([
      '9007199254740991',
      '1.5',
      '"9007199254740993"',
      '{"b":2,"a":[1,null,true]}',
      '"x"',
      '{"z":1}',
      '{"big":12345678901234567890}',
    ]);
    // the JSON.stringify of the parsed value for all but the rounded one
    expect(JSON.stringify(JSON.parse('{"big":12345678901234567890}'))).toBe('{"big":12345678901234567000}');
  });

  it('keys a value JSON.stringify would write otherwise only when the record wrote a rounded literal', () => {
    const record = decoded('{"a":9007199254740993,"b":9007199254740993.0,"c":"s","d":null,"e":9007199254740992.0}');
    expect(uniqueKey(record, '/a', 9007199254740992)).toBe('9007199254740993');
    expect(uniqueKey(record, '/b', 9007199254740992)).toBe('9007199254740993');
    expect(uniqueKey(record, '/e', 9007199254740992)).toBe('9007199254740992');
    expect(uniqueKey(record, '/c', 's')).toBe('"s"');
    expect(uniqueKey(record, '', record)).toBe('{"a":9007199254740993,"b":9007199254740993,"c":"s","d":null,"e":9007199254740992}');
    // a value parsed elsewhere, not by decodeRecord: JSON.stringify as always
    const parsed = JSON.parse('{"a":9007199254740993}') as { a: number };
    expect(uniqueKey(parsed, '/a', parsed.a)).toBe('9007199254740992');
  });
});
