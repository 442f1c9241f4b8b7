import { compileRuleSet, type DecodeResult, decodeRecord, validateRecord } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';

const limits = { maxBytes: 1 << 20, maxDepth: 64 };
const decode = (input: string | number[], override: Partial<typeof limits> = {}): DecodeResult =>
  decodeRecord(typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input), { ...limits, ...override });

describe('decodeRecord', () => {
  it('decodes a JSON record, with or without a byte order mark', () => {
    expect(decode('{"order_id": "ORD-1", "items": [1, 2]}')).toEqual({ ok: true, value: { order_id: 'ORD-1', items: [1, 2] } });
    expect(decode([0xef, 0xbb, 0xbf, ...Buffer.from('{"a":1}')])).toEqual({ ok: true, value: { a: 1 } });
    expect(decode(' 42 ')).toEqual({ ok: true, value: 42 });
  });

  it('rejects an oversized record before reading it', () => {
    expect(decode(`"${'x'.repeat(100)}"`, { maxBytes: 100 })).toEqual({ ok: false, code: 'too_large', reason: 'record is 102 bytes, over the limit of 100' });
    expect(decode(`"${'x'.repeat(98)}"`, { maxBytes: 100 }).ok).toBe(true);
  });

  it('rejects invalid UTF-8 and says at which byte', () => {
    const prefix = [...Buffer.from('{"a":"')];
    expect(decode([...prefix, 0x80, 0x22, 0x7d])).toEqual({ ok: false, code: 'invalid_utf8', reason: 'invalid UTF-8 at byte 6' });
    expect(decode([...prefix, 0xc0, 0xaf, 0x22, 0x7d]).ok ? '' : 'rejected').toBe('rejected'); // overlong "/"
    expect(decode([...prefix, 0xc0, 0xaf, 0x22, 0x7d])).toMatchObject({ code: 'invalid_utf8', reason: 'invalid UTF-8 at byte 6' });
    expect(decode([...prefix, 0xed, 0xa0, 0x80, 0x22, 0x7d])).toMatchObject({ reason: 'invalid UTF-8 at byte 6' }); // a UTF-16 surrogate
    expect(decode([...prefix, 0xf4, 0x90, 0x80, 0x80, 0x22, 0x7d])).toMatchObject({ reason: 'invalid UTF-8 at byte 6' }); // above U+10FFFF
    expect(decode([...Buffer.from('"ção"'), 0xff])).toMatchObject({ reason: 'invalid UTF-8 at byte 7' });
    expect(decode([...prefix, 0xe2, 0x82])).toEqual({ ok: false, code: 'invalid_utf8', reason: 'truncated UTF-8 sequence at byte 6' });
  });

  it('says where JSON is invalid, in bytes of the record as received', () => {
    expect(decode('{"a":}')).toEqual({ ok: false, code: 'invalid_json', reason: "invalid JSON at byte 5: expected a value, found '}'" });
    expect(decode('[1, 2,]')).toEqual({ ok: false, code: 'invalid_json', reason: "invalid JSON at byte 6: unexpected ']' after ',' (a trailing comma?)" });
    // "ção" is 5 bytes in UTF-8: the bad token is character 14 but byte 16.
    expect(decode('{"nome":"ção" x}')).toMatchObject({ reason: "invalid JSON at byte 16: expected ',' or '}', found 'x'" });
    expect(decode("{'a': 1}")).toMatchObject({ reason: "invalid JSON at byte 1: expected a property name in double quotes, found '''" });
    expect(decode('{"a" 1}')).toMatchObject({ reason: "invalid JSON at byte 5: expected ':' after the property name, found '1'" });
    expect(decode('{"a": "x\ny"}')).toMatchObject({ reason: 'invalid JSON at byte 8: control character U+000A inside a string (escape it)' });
    expect(decode('{"a": "\\x"}')).toMatchObject({ reason: "invalid JSON at byte 7: invalid escape '\\x' inside a string" });
    expect(decode('[01]')).toMatchObject({ reason: "invalid JSON at byte 2: expected ',' or ']', found '1'" });
    expect(decode('[1.]')).toMatchObject({ reason: 'invalid JSON at byte 3: invalid number: digits must follow the decimal point' });
    expect(decode('{} {}')).toMatchObject({ reason: "invalid JSON at byte 3: unexpected '{' after the JSON value" });
    expect(decode('[NaN]')).toMatchObject({ reason: "invalid JSON at byte 1: unexpected 'N'" });
    expect(decode('[tru]')).toMatchObject({ reason: "invalid JSON at byte 1: unexpected 't'" });
    expect(decode([0xef, 0xbb, 0xbf, ...Buffer.from('[1 2]')])).toMatchObject({ reason: "invalid JSON at byte 6: expected ',' or ']', found '2'" });
  });

  it('tells truncated JSON apart from invalid JSON', () => {
    expect(decode('{"order_id": "ORD-1", "items": [1, 2')).toEqual({
      ok: false,
      code: 'truncated_json',
      reason: 'truncated JSON: input ends with 2 unclosed brackets at byte 36',
    });
    expect(decode('{"order_id": "ORD')).toMatchObject({ code: 'truncated_json', reason: 'truncated JSON: input ends inside a string at byte 17' });
    expect(decode('{"a": tr')).toMatchObject({ code: 'truncated_json', reason: 'truncated JSON: input ends inside a value at byte 8' });
    expect(decode('{"a": -')).toMatchObject({ code: 'truncated_json' });
    expect(decode('{"a": "\\u00')).toMatchObject({ code: 'truncated_json' });
    expect(decode('{"a":')).toMatchObject({ code: 'truncated_json', reason: 'truncated JSON: input ends with 1 unclosed bracket at byte 5' });
  });

  it('rejects an empty record', () => {
    expect(decode('')).toEqual({ ok: false, code: 'empty', reason: 'record is empty' });
    expect(decode(' \n ')).toEqual({ ok: false, code: 'empty', reason: 'record is empty' });
  });

  it('rejects 10,000-deep nesting in one pass, without recursion', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    expect(decode(deep)).toEqual({ ok: false, code: 'too_deep', reason: 'nesting deeper than 64 levels at byte 64' });
    expect(decode('{"a":'.repeat(10_000))).toEqual({ ok: false, code: 'too_deep', reason: 'nesting deeper than 64 levels at byte 320' });
    expect(decode('['.repeat(10_000))).toMatchObject({ code: 'too_deep' });
    // The limit is inclusive, and brackets inside strings do not count.
    expect(decode(`${'['.repeat(64)}${']'.repeat(64)}`).ok).toBe(true);
    expect(decode(`{"a": "${'['.repeat(100)}\\"${'{'.repeat(100)}"}`)).toEqual({ ok: true, value: { a: `${'['.repeat(100)}"${'{'.repeat(100)}` } });
  });

  it('lets a permissive limit through, and the rule engine copes with such a record', () => {
    const decoded = decode(`{"a": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`, { maxDepth: 20_000 });
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const compiled = compileRuleSet({
      name: 'deep',
      version: 1,
      schema: { type: 'object' },
      rules: [
        { id: 'a', severity: 'error', type: 'length', field: '/a', max: 0 },
        { id: 'b', severity: 'error', type: 'expression', expression: 'len(a) == 1 && a == a' },
      ],
    });
    expect(validateRecord(compiled, decoded.value, { jobId: 'j', recordNumber: 1 }).violations).toEqual([
      { ruleId: 'a', severity: 'error', path: '/a', message: 'must have at most 0 items, got 1' },
    ]);
  });

  it('never throws, and agrees with JSON.parse on thousands of mutated records', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const base = Buffer.from(JSON.stringify({ id: 'ORD-1', name: 'Ærø', items: [{ q: 1, p: -2.5e3 }, null, true], note: 'a\\"b', nested: { x: [[], {}] } }));
    const codes = new Set<string>();
    for (let round = 0; round < 3000; round++) {
      const bytes = Buffer.from(base);
      const edits = 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const cut = random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
      const result = decodeRecord(cut, { maxBytes: 1000, maxDepth: 3 });
      let parsed: { ok: boolean; value?: unknown };
      try {
        parsed = { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(cut)) };
      } catch {
        parsed = { ok: false };
      }
      if (result.ok) expect(result.value).toEqual(parsed.value);
      else {
        codes.add(result.code);
        expect(result.reason.length).toBeLessThan(120);
        expect(result.reason).not.toContain('JSON.parse rejected');
        if (result.code !== 'too_deep') expect(parsed.ok).toBe(false);
      }
    }
    expect([...codes].sort()).toEqual(['empty', 'invalid_json', 'invalid_utf8', 'too_deep', 'truncated_json']);
  });
});
