/**
 * `ContentHash` of `/v1/agent/service/:id`, computed as Consul computes it (agent_endpoint.go
 * AgentService): `fmt.Sprintf("%x", hashstructure.Hash(reply, nil))` over the api.AgentService
 * reply before ContentHash is set. hashstructure (github.com/mitchellh/hashstructure, v1 API)
 * walks the value with FNV-1 64:
 *
 * - strings hash their bytes; ints, uints and bools their little-endian bytes (int = 8 bytes,
 *   bool = 1 byte); a nil pointer hashes as int 0;
 * - a struct starts from the hash of its type name and XORs in, per exported field not tagged
 *   `hash:"ignore"`, ordered(hash(field name), hash(value));
 * - a map XORs ordered(hash(key), hash(value)) over its entries (nil and empty alike give 0);
 * - a slice folds ordered(h, hash(elem)) left to right from 0;
 * - ordered(a, b) is FNV-1 over the 16 little-endian bytes of a then b.
 *
 * api.AgentService (api/agent.go) fields hashed: Kind, ID, Service, Tags, Meta, Port, Address,
 * SocketPath, TaggedAddresses, Weights, EnableTagOverride, CreateIndex, ModifyIndex, ContentHash
 * (still ""), Proxy, Connect, PeerName; Namespace, Partition, Datacenter and Locality are
 * `hash:"ignore"`. Proxy and Connect are nil for a plain service (buildAgentService fills them
 * only for connect proxies and connect-native or sidecar services), which is all the dev server
 * registers.
 */

const MASK = (1n << 64n) - 1n;
const FNV_OFFSET = 14695981039346656037n;
const FNV_PRIME = 1099511628211n;

/** hash/fnv New64 (FNV-1: multiply, then xor). */
export function fnv1(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (const b of bytes) {
    h = (h * FNV_PRIME) & MASK;
    h ^= BigInt(b);
  }
  return h;
}

function le64(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  for (let i = 0; i < 8; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

const hashString = (s: string): bigint => fnv1(Buffer.from(s, 'utf8'));
const hashInt = (n: number | bigint): bigint => fnv1(Uint8Array.from(le64(BigInt(n))));
const hashBool = (b: boolean): bigint => fnv1(Uint8Array.of(b ? 1 : 0));
/** A nil pointer: reflect.Zero(int) → int 0. */
const hashNil = (): bigint => hashInt(0);
const ordered = (a: bigint, b: bigint): bigint => fnv1(Uint8Array.from([...le64(a), ...le64(b)]));

/** A struct: its type name, then each field XORed in (the field order does not matter). */
function hashStruct(typeName: string, fields: ReadonlyArray<readonly [string, bigint]>): bigint {
  let h = hashString(typeName);
  for (const [name, value] of fields) h ^= ordered(hashString(name), value);
  return h;
}

function hashStringMap(map: Readonly<Record<string, string>> | null | undefined): bigint {
  let h = 0n;
  for (const [k, v] of Object.entries(map ?? {})) h ^= ordered(hashString(k), hashString(v));
  return h;
}

function hashStringSlice(items: readonly string[] | null | undefined): bigint {
  let h = 0n;
  for (const s of items ?? []) h = ordered(h, hashString(s));
  return h;
}

/** The api.AgentService fields that take part in the hash, as the reply carries them. */
export interface AgentServiceHashInput {
  readonly Kind: string;
  readonly ID: string;
  readonly Service: string;
  readonly Tags: readonly string[];
  readonly Meta: Readonly<Record<string, string>> | null;
  readonly Port: number;
  readonly Address: string;
  readonly SocketPath: string;
  readonly TaggedAddresses: Readonly<Record<string, { readonly Address: string; readonly Port: number }>>;
  readonly Weights: { readonly Passing: number; readonly Warning: number };
  readonly EnableTagOverride: boolean;
  readonly PeerName: string;
}

/** hashstructure.Hash(&api.AgentService{…}) as lower-case hex without leading zeros (`%x`). */
export function agentServiceContentHash(s: AgentServiceHashInput): string {
  let tagged = 0n;
  for (const [k, a] of Object.entries(s.TaggedAddresses)) {
    const addr = hashStruct('ServiceAddress', [
      ['Address', hashString(a.Address)],
      ['Port', hashInt(a.Port)],
    ]);
    tagged ^= ordered(hashString(k), addr);
  }
  const weights = hashStruct('AgentWeights', [
    ['Passing', hashInt(s.Weights.Passing)],
    ['Warning', hashInt(s.Weights.Warning)],
  ]);
  const h = hashStruct('AgentService', [
    ['Kind', hashString(s.Kind)],
    ['ID', hashString(s.ID)],
    ['Service', hashString(s.Service)],
    ['Tags', hashStringSlice(s.Tags)],
    ['Meta', hashStringMap(s.Meta)],
    ['Port', hashInt(s.Port)],
    ['Address', hashString(s.Address)],
    ['SocketPath', hashString(s.SocketPath)],
    ['TaggedAddresses', tagged],
    ['Weights', weights],
    ['EnableTagOverride', hashBool(s.EnableTagOverride)],
    ['CreateIndex', hashInt(0)],
    ['ModifyIndex', hashInt(0)],
    ['ContentHash', hashString('')],
    ['Proxy', hashNil()],
    ['Connect', hashNil()],
    ['PeerName', hashString(s.PeerName)],
  ]);
  return h.toString(16);
}
