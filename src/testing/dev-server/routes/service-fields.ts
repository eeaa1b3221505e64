/**
 * What a service registration says the same way on both write paths, the agent's
 * structs.ServiceDefinition (agent-services.ts) and the catalog's structs.NodeService
 * (catalog-register.ts): the shared fields and the decoding of their nested structs.
 */
import { HttpError } from '../http/errors.js';
import { type StructSpec, decodeStruct } from '../http/json.js';
import type { Locality, ServiceAddress, Weights } from '../state/types.js';

/** The fields ServiceDefinition and NodeService share (the name is `Name` in one, `Service` in the other). */
export const SERVICE_FIELDS: StructSpec['fields'] = {
  Kind: 'string',
  ID: 'string',
  Tags: 'stringArray',
  Address: 'string',
  TaggedAddresses: 'any',
  Meta: 'stringMap',
  Port: 'int',
  SocketPath: 'string',
  Weights: 'any',
  EnableTagOverride: 'bool',
  Proxy: 'any',
  Connect: 'any',
  Locality: 'any',
};

const SERVICE_ADDRESS_SPEC: StructSpec = { name: 'structs.ServiceAddress', strict: false, fields: { Address: 'string', Port: 'int' } };
const LOCALITY_SPEC: StructSpec = { name: 'structs.Locality', strict: false, fields: { Region: 'string', Zone: 'string' } };
const WEIGHTS_SPEC: StructSpec = { name: 'structs.Weights', strict: false, fields: { Passing: 'int', Warning: 'int' } };

const text = (d: Record<string, unknown>, k: string): string => (typeof d[k] === 'string' ? (d[k] as string) : '');
const int = (d: Record<string, unknown>, k: string): number => (typeof d[k] === 'number' ? (d[k] as number) : 0);

/**
 * map[string]structs.ServiceAddress. Anything but an object is a 400 naming `field` (the Go
 * struct field in the message); each entry decodes as `entryPath`.
 */
export function decodeTaggedAddresses(raw: unknown, field: string, entryPath: string): Record<string, ServiceAddress> {
  const out: Record<string, ServiceAddress> = {};
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new HttpError(400, `Request decode failed: json: cannot unmarshal into Go struct field ${field} of type map[string]structs.ServiceAddress`);
  }
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const a = decodeStruct(v, SERVICE_ADDRESS_SPEC, entryPath);
    out[k] = { Address: text(a, 'Address'), Port: int(a, 'Port') };
  }
  return out;
}

/** structs.Locality, or null when absent. */
export function decodeLocality(raw: unknown, path: string): Locality | null {
  if (raw === undefined || raw === null) return null;
  const l = decodeStruct(raw, LOCALITY_SPEC, path);
  return { Region: text(l, 'Region'), Zone: text(l, 'Zone') };
}

/** structs.Weights as given (missing numbers are 0), or undefined when absent. */
export function decodeWeights(raw: unknown, path: string): Weights | undefined {
  if (raw === undefined || raw === null) return undefined;
  const w = decodeStruct(raw, WEIGHTS_SPEC, path);
  return { Passing: int(w, 'Passing'), Warning: int(w, 'Warning') };
}

/** ipaddr.IsAny. */
export function isAnyAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '[::]';
}
