/**
 * Request-body decoding with Go encoding/json semantics, as far as clients can observe them:
 * field names match case-insensitively, `null` leaves a field at its zero value, a wrong JSON
 * type is an error naming the Go field, and strict decoding (lib/json.go `DecodeJSON`,
 * `DisallowUnknownFields`) rejects unknown fields. Error texts follow Go's; tests should only
 * rely on their prefixes, as the spec says.
 */
import { parseGoDurationNs } from '../../../internal/duration.js';
import { UINT64_MAX, parseJsonWithUint64 } from '../../../internal/uint64.js';

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export type FieldKind =
  | 'string'
  | 'bool'
  | 'int'
  | 'uint64'
  | 'duration'
  | 'stringArray'
  | 'stringMap'
  | 'headerMap'
  | 'bytes'
  | 'any';

export interface StructSpec {
  /** Go type name used in error texts, e.g. `structs.CheckDefinition`. */
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldKind>>;
  /** Extra accepted spellings (snake_case aliases) → canonical field. */
  readonly aliases?: Readonly<Record<string, string>>;
  readonly strict: boolean;
}

const GO_TYPES: Record<FieldKind, string> = {
  string: 'string',
  bool: 'bool',
  int: 'int',
  uint64: 'uint64',
  duration: 'time.Duration',
  stringArray: '[]string',
  stringMap: 'map[string]string',
  headerMap: 'map[string][]string',
  bytes: '[]uint8',
  any: 'interface {}',
};

const NILLABLE: ReadonlySet<FieldKind> = new Set(['stringArray', 'stringMap', 'headerMap', 'bytes', 'any']);

function jsonType(value: unknown): string {
  if (typeof value === 'bigint') return 'number';
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'object' : typeof value === 'boolean' ? 'bool' : (typeof value as string);
}

/**
 * Parses JSON text as Go's decoder would start to: an empty body is `EOF`. Named integer fields
 * (uint64 `Flags`, indexes) are kept exact as bigint.
 */
export function parseJsonBody(text: string, uint64Fields: readonly string[] = []): unknown {
  if (text.trim() === '') throw new DecodeError('EOF');
  try {
    return uint64Fields.length > 0 ? parseJsonWithUint64(text, uint64Fields) : (JSON.parse(text) as unknown);
  } catch (err) {
    throw new DecodeError(err instanceof Error ? err.message : String(err));
  }
}

function decodeValue(kind: FieldKind, value: unknown, where: string): unknown {
  const mismatch = (): DecodeError =>
    new DecodeError(`json: cannot unmarshal ${jsonType(value)} into Go struct field ${where} of type ${GO_TYPES[kind]}`);
  switch (kind) {
    case 'any':
      return value;
    case 'string':
      if (typeof value !== 'string') throw mismatch();
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw mismatch();
      return value;
    case 'int':
      if (typeof value === 'bigint') return Number(value);
      if (typeof value !== 'number' || !Number.isInteger(value)) throw mismatch();
      return value;
    case 'uint64': {
      let v: bigint | undefined;
      if (typeof value === 'bigint') v = value;
      else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
      if (v === undefined || v < 0n || v > UINT64_MAX) {
        throw new DecodeError(`json: cannot unmarshal number ${String(value)} into Go struct field ${where} of type uint64`);
      }
      return v;
    }
    case 'duration':
      // structs duration fields accept a Go duration string or integer nanoseconds.
      if (typeof value === 'string') {
        const ns = parseGoDurationNs(value);
        if (ns === undefined) throw new DecodeError(`time: invalid duration ${JSON.stringify(value)}`);
        return ns;
      }
      if (typeof value === 'number' || typeof value === 'bigint') return Number(value);
      throw mismatch();
    case 'stringArray':
      if (!Array.isArray(value)) throw mismatch();
      return value.map((v, i) => {
        if (v === null) return '';
        if (typeof v !== 'string') throw new DecodeError(`json: cannot unmarshal ${jsonType(v)} into Go struct field ${where}[${i}] of type string`);
        return v;
      });
    case 'stringMap':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw mismatch();
      for (const v of Object.values(value)) if (typeof v !== 'string') throw mismatch();
      return value;
    case 'headerMap':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw mismatch();
      for (const v of Object.values(value)) {
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw mismatch();
      }
      return value;
    case 'bytes': {
      // []byte is standard base64 with padding.
      if (typeof value !== 'string') throw mismatch();
      if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value)) {
        throw new DecodeError(`illegal base64 data at input byte ${firstBadBase64Byte(value)}`);
      }
      return Buffer.from(value, 'base64');
    }
  }
}

function firstBadBase64Byte(text: string): number {
  const i = text.search(/[^A-Za-z0-9+/=]/);
  return i >= 0 ? i : Math.max(0, text.length - (text.length % 4 || 4));
}

/**
 * Decodes a JSON object into the canonical field names of `spec`. Absent and `null` fields are
 * left out of the result (Go's zero value).
 */
export function decodeStruct(raw: unknown, spec: StructSpec, path = spec.name.replace(/^.*\./, '')): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DecodeError(`json: cannot unmarshal ${jsonType(raw)} into Go value of type ${spec.name}`);
  }
  const canon = new Map<string, string>();
  for (const field of Object.keys(spec.fields)) canon.set(field.toLowerCase(), field);
  for (const [alias, field] of Object.entries(spec.aliases ?? {})) canon.set(alias.toLowerCase(), field);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const field = spec.fields[key] !== undefined ? key : canon.get(key.toLowerCase());
    if (field === undefined) {
      if (spec.strict) throw new DecodeError(`json: unknown field ${JSON.stringify(key)}`);
      continue;
    }
    const kind = spec.fields[field];
    if (kind === undefined) continue;
    if (value === null) {
      // Go: null sets slices, maps and interfaces to nil and leaves other kinds unchanged.
      if (NILLABLE.has(kind)) out[field] = null;
      continue;
    }
    out[field] = decodeValue(kind, value, `${path}.${field}`);
  }
  return out;
}
