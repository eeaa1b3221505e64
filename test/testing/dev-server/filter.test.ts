/**
 * The bexpr engine on its own: the grammar of go-bexpr (grammar.peg), its parser errors as
 * pigeon words them, validation against the filtered Go type (validate.go, field_config.go) and
 * evaluation (evaluate.go: ANY over slices, missing map keys). Plus ContentHash's hashing
 * (mitchellh/hashstructure over api.AgentService, FNV-1 64).
 */
import { describe, expect, it } from 'vitest';
import { agentServiceContentHash, fnv1 } from '../../../src/testing/dev-server/agent/content-hash.js';
import {
  AGENT_SERVICE_TYPE,
  CHECK_SERVICE_NODE_TYPE,
  FilterError,
  HEALTH_CHECK_TYPE,
  NODE_TYPE,
  createFilter,
  parseExpression,
} from '../../../src/testing/dev-server/filter/index.js';

const PREFIX = 'Failed to create boolean expression evaluator: ';

function errorOf(expression: string, type = NODE_TYPE): string {
  try {
    createFilter(expression, type);
  } catch (err) {
    expect(err).toBeInstanceOf(FilterError);
    expect((err as FilterError).code).toBe('ERR_FILTER_EXPRESSION');
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(expression)} to be refused`);
}

describe('go-bexpr grammar', () => {
  it('parses selectors with dots, quoted indexes and numeric segments', () => {
    expect(parseExpression('Service.Meta.env == prod')).toEqual({ kind: 'match', selector: ['Service', 'Meta', 'env'], operator: 'Equal', value: 'prod' });
    expect(parseExpression('Meta["rack-1"] != `x y`')).toEqual({ kind: 'match', selector: ['Meta', 'rack-1'], operator: 'Not Equal', value: 'x y' });
    expect(parseExpression('A.0 == 1')).toMatchObject({ selector: ['A', '0'], value: '1' });
  });

  it('reads `contains` as `in` with the operands swapped, and `is (not) empty` without a value', () => {
    expect(parseExpression('Tags contains "v1"')).toEqual(parseExpression('"v1" in Tags'));
    expect(parseExpression('Tags not contains v1')).toMatchObject({ operator: 'Not In', selector: ['Tags'], value: 'v1' });
    expect(parseExpression('Tags is empty')).toEqual({ kind: 'match', selector: ['Tags'], operator: 'Is Empty', value: undefined });
    expect(parseExpression('Tags is not empty')).toMatchObject({ operator: 'Is Not Empty' });
    expect(parseExpression('Service matches "^web-[0-9]+$"')).toMatchObject({ operator: 'Matches', value: '^web-[0-9]+$' });
    expect(parseExpression('Service not matches x')).toMatchObject({ operator: 'Not Matches' });
  });

  it('binds `and` tighter than `or`, groups with parentheses, and drops a double `not`', () => {
    expect(parseExpression('a == 1 or b == 2 and c == 3')).toMatchObject({ kind: 'or', right: { kind: 'and' } });
    expect(parseExpression('(a == 1 or b == 2) and c == 3')).toMatchObject({ kind: 'and', left: { kind: 'or' } });
    expect(parseExpression('not not a == 1')).toEqual(parseExpression('a == 1'));
    expect(parseExpression('not (a == 1)')).toMatchObject({ kind: 'not', operand: { kind: 'match' } });
    expect(parseExpression(' ( a == 1 ) ')).toEqual(parseExpression('a == 1'));
  });

  it('decodes string literals with Go escapes and keeps numbers and bare words as raw text', () => {
    expect(parseExpression('a == "tab\\there\\u00e9"')).toMatchObject({ value: 'tab\there\u00e9' });
    expect(parseExpression('a == -1.5')).toMatchObject({ value: '-1.5' });
    expect(parseExpression('a == passing')).toMatchObject({ value: 'passing' });
  });

  describe('errors, worded as pigeon words them', () => {
    it.each([
      ['', '1:1 (0): no match found, expected: "(", "-", "0", "\\"", "`", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]'],
      ['Meta.rack ==', '1:13 (12): no match found, expected: "-", "0", "\\"", "`", [ \\t\\r\\n], [1-9] or [a-zA-Z]'],
      ['a == 1 and', '1:11 (10): no match found, expected: [ \\t\\r\\n]'],
      ['Node == "abc', '1:13 (12): rule string: Unterminated string literal'],
      ['(Node == abc', '1:13 (12): rule grouping: Unmatched parentheses'],
      ['Port == 1x', '1:10 (9): rule number: Invalid number literal'],
      ['Meta[1] == x', '1:6 (5): rule index: Invalid index'],
      ['Meta["a" == x', '1:10 (9): rule index: Unclosed index expression'],
      ['Node == "\\q"', '1:9 (8): rule string: invalid syntax'],
    ])('%j → %s', (expression, message) => {
      expect(errorOf(expression)).toBe(PREFIX + message);
    });

    it('counts columns in characters and offsets in bytes', () => {
      expect(errorOf('Node == "é')).toBe(`${PREFIX}1:11 (11): rule string: Unterminated string literal`);
    });
  });
});

describe('validation against the filtered type', () => {
  it('refuses an unknown field, naming the path up to it', () => {
    expect(errorOf('Foo == 1')).toBe(`${PREFIX}Selector ["Foo"] is not valid`);
    expect(errorOf('Service.Nope == 1', CHECK_SERVICE_NODE_TYPE)).toBe(`${PREFIX}Selector ["Service" "Nope"] is not valid`);
    expect(errorOf('Port.X == 1', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Selector ["Port" "X"] is not valid`);
  });

  it('refuses an operator the field does not support', () => {
    expect(errorOf('Port matches "1"', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Invalid match operator "Matches" for selector "Port"`);
    expect(errorOf('Tags == x', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Invalid match operator "Equal" for selector "Tags"`);
    expect(errorOf('Weights == x', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Invalid match operator "Equal" for selector "Weights"`);
    expect(errorOf('EnableTagOverride is empty', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Invalid match operator "Is Empty" for selector "EnableTagOverride"`);
  });

  it('converts values for numbers and bools as strconv does, and compiles regexps', () => {
    expect(errorOf('Port == abc', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Failed to coerce value "abc" for selector "Port": strconv.ParseInt: parsing "abc": invalid syntax`);
    expect(errorOf('EnableTagOverride == yes', AGENT_SERVICE_TYPE)).toBe(
      `${PREFIX}Failed to coerce value "yes" for selector "EnableTagOverride": strconv.ParseBool: parsing "yes": invalid syntax`,
    );
    expect(errorOf('Port == 99999999999999999999', AGENT_SERVICE_TYPE)).toMatch(/value out of range$/);
    expect(errorOf('Service matches "("', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Failed to compile regular expression "(": error parsing regexp: missing closing ): \`(\``);
    expect(() => createFilter('Port == -80 and EnableTagOverride == T', AGENT_SERVICE_TYPE)).not.toThrow();
    // A hex literal is not a number token in the grammar, whatever strconv would accept.
    expect(errorOf('Port == 0x50', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}1:10 (9): rule number: Invalid number literal`);
  });
});

describe('evaluation', () => {
  const svc = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ID: 'web-1',
    Service: 'web',
    Tags: ['v1', 'primary'],
    Meta: { env: 'prod' },
    Port: 80,
    Address: '',
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    ...extra,
  });
  const match = (expression: string, datum: unknown, type = AGENT_SERVICE_TYPE): boolean => createFilter(expression, type).matches(datum);

  it('compares strings, ints and bools, and `in` works on strings (substring), slices and map keys', () => {
    expect(match('Service == web and Port == 80 and EnableTagOverride == false', svc())).toBe(true);
    expect(match('Port != 80', svc())).toBe(false);
    expect(match('"eb" in Service', svc())).toBe(true);
    expect(match('"v1" in Tags and Tags contains primary', svc())).toBe(true);
    expect(match('"v2" not in Tags', svc())).toBe(true);
    expect(match('env in Meta', svc())).toBe(true);
    expect(match('Meta.env == prod', svc())).toBe(true);
  });

  it('treats a missing map key as absent: == and in false, their negations true', () => {
    expect(match('Meta.zone == a', svc())).toBe(false);
    expect(match('Meta.zone != a', svc())).toBe(true);
    expect(match('x in Meta.zone', svc())).toBe(false);
    expect(match('x not in Meta.zone', svc())).toBe(true);
    // Map values are strings here, and strings have no emptiness operators in bexpr.
    expect(errorOf('Meta.zone is empty', AGENT_SERVICE_TYPE)).toBe(`${PREFIX}Invalid match operator "Is Empty" for selector "Meta.zone"`);
  });

  it('reads omitted and null fields as Go zero values', () => {
    expect(match('Kind == ""', svc())).toBe(true);
    expect(match('Meta is empty', svc({ Meta: null }))).toBe(true);
    expect(match('TaggedAddresses is empty', svc())).toBe(true);
  });

  it('matches with Go regexps and negates with not', () => {
    expect(match('Service matches "^w.b$"', svc())).toBe(true);
    expect(match('Service not matches "^db"', svc())).toBe(true);
    expect(match('not Service == web', svc())).toBe(false);
  });

  it('selects into a slice of structs as "any element"', () => {
    const entry = {
      Node: { Node: 'n1', Meta: { rack: 'r1' } },
      Service: { Service: 'web', Tags: [] },
      Checks: [
        { CheckID: 'serfHealth', Status: 'passing' },
        { CheckID: 'service:web', Status: 'critical' },
      ],
    };
    expect(match('Checks.Status == critical', entry, CHECK_SERVICE_NODE_TYPE)).toBe(true);
    expect(match('Checks.Status == warning', entry, CHECK_SERVICE_NODE_TYPE)).toBe(false);
    // ANY applies to != as well: some check is not passing.
    expect(match('Checks.Status != passing', entry, CHECK_SERVICE_NODE_TYPE)).toBe(true);
    expect(match('Checks is not empty and Node.Meta.rack == r1', entry, CHECK_SERVICE_NODE_TYPE)).toBe(true);
  });

  it('filters lists in order', () => {
    const checks = [
      { CheckID: 'a', Status: 'passing', ServiceTags: [] },
      { CheckID: 'b', Status: 'critical', ServiceTags: ['x'] },
      { CheckID: 'c', Status: 'passing', ServiceTags: ['x'] },
    ];
    expect(createFilter('Status == passing', HEALTH_CHECK_TYPE).apply(checks).map((c) => c.CheckID)).toEqual(['a', 'c']);
    expect(createFilter('ServiceTags is empty or CheckID == b', HEALTH_CHECK_TYPE).apply(checks).map((c) => c.CheckID)).toEqual(['a', 'b']);
  });
});

describe('ContentHash (hashstructure over api.AgentService)', () => {
  it('uses FNV-1 64 (multiply, then xor), as hash/fnv New64', () => {
    expect(fnv1(new Uint8Array()).toString(16)).toBe('cbf29ce484222325');
    expect(fnv1(Buffer.from('a')).toString(16)).toBe('af63bd4c8601b7be');
    expect(fnv1(Buffer.from('foobar')).toString(16)).toBe('340d8765a4dda9c2');
  });

  const base = {
    Kind: '',
    ID: 'web',
    Service: 'web',
    Tags: ['a', 'b'],
    Meta: { x: '1', y: '2' },
    Port: 80,
    Address: '',
    SocketPath: '',
    TaggedAddresses: {},
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    PeerName: '',
  };

  it('does not depend on map order but does on slice order and every hashed field', () => {
    const h = agentServiceContentHash(base);
    expect(h).toMatch(/^[0-9a-f]{1,16}$/);
    expect(agentServiceContentHash({ ...base, Meta: { y: '2', x: '1' } })).toBe(h);
    expect(agentServiceContentHash({ ...base, Tags: ['b', 'a'] })).not.toBe(h);
    expect(agentServiceContentHash({ ...base, Port: 81 })).not.toBe(h);
    expect(agentServiceContentHash({ ...base, EnableTagOverride: true })).not.toBe(h);
    expect(agentServiceContentHash({ ...base, Meta: null })).toBe(agentServiceContentHash({ ...base, Meta: {} }));
  });
});
