/**
 * `/ui/<dc>/coordination`: every lock, semaphore and leader election in the KV store, recognised
 * by the shared model of `consul-recipes inspect` (src/cli/inspect-model.ts: Go's flags, the
 * semaphore's `.lock` record, a session-locked key without flags for an election), with the
 * holder's session, node, value, fencing token and age, semaphore permits and waiters, and the
 * lock-delays this page saw begin.
 *
 * Lock-delay: Consul reports no lock-delay over HTTP. When a session is invalidated (TTL, failed
 * check, destroy while holding), one Raft write releases (or deletes) its keys and deletes the
 * session, and each key gets the session's LockDelay. The page recognises that write as a key
 * losing its holder at the very index at which the sessions table lost that session (a voluntary
 * release is a separate, earlier write), and shows the delay counted from the moment it saw it.
 */
import { useRef } from 'preact/hooks';
import { formatAge, inspect, type HolderView, type Inspection } from '../../../cli/inspect-model.js';
import { keyPath, parseJson, parseKvList, useLive, type KVPair, type Live, type SessionEntry } from '../api.js';
import { asText, duration, nsDuration } from '../format.js';
import { html } from '../html.js';
import { LiveLine, Loading, PageTitle, ui, useNow } from './common.js';

export function useKvAndSessions(): { kv: Live<KVPair[]>; sessions: Live<SessionEntry[]> } {
  const kv = useLive('/v1/kv/', { recurse: '' }, parseKvList);
  const sessions = useLive('/v1/session/list', {}, parseJson<SessionEntry[]>([]));
  return { kv, sessions };
}

interface DelayRecord {
  readonly key: string;
  readonly session: SessionEntry;
  /** Browser clock when the page saw the release. */
  readonly seenAt: number;
  readonly until: number;
}

interface Tracker {
  kvIndex: number;
  sessionsIndex: number;
  /** Who held each key in the last KV answer. */
  holders: Map<string, string>;
  sessions: Map<string, SessionEntry>;
  /** Session ID → the sessions-table index at which it disappeared. */
  goneAt: Map<string, number>;
  /** Keys released (or deleted) by a session: session ID → [key, release index]. */
  released: { key: string; session: string; index: number; seenAt: number }[];
  delays: DelayRecord[];
}

/** Follows the two live answers and keeps the lock-delays they reveal (see the file comment). */
function useLockDelays(kv: Live<KVPair[]>, sessions: Live<SessionEntry[]>): DelayRecord[] {
  const ref = useRef<Tracker>({ kvIndex: 0, sessionsIndex: 0, holders: new Map(), sessions: new Map(), goneAt: new Map(), released: [], delays: [] });
  const t = ref.current;
  const now = Date.now();
  if (sessions.data !== undefined && sessions.index !== t.sessionsIndex) {
    const next = new Map(sessions.data.map((s) => [s.ID, s]));
    if (t.sessionsIndex !== 0) for (const id of t.sessions.keys()) if (!next.has(id)) t.goneAt.set(id, sessions.index);
    // Sessions that went away stay known: their LockDelay is needed just after.
    for (const [id, s] of next) t.sessions.set(id, s);
    t.sessionsIndex = sessions.index;
  }
  if (kv.data !== undefined && kv.index !== t.kvIndex) {
    const byKey = new Map(kv.data.map((p) => [p.key, p]));
    if (t.kvIndex !== 0) {
      for (const [key, session] of t.holders) {
        const pair = byKey.get(key);
        if (pair?.session === session) continue;
        // Released at the key's ModifyIndex, or deleted (Behavior=delete) at the listing's index.
        t.released.push({ key, session, index: pair ? pair.modifyIndex : kv.index, seenAt: now });
      }
    }
    t.holders = new Map(kv.data.filter((p) => p.session !== undefined).map((p) => [p.key, p.session as string]));
    t.kvIndex = kv.index;
  }
  // A release is an invalidation when the session vanished at that same index.
  t.released = t.released.filter((r) => {
    const gone = t.goneAt.get(r.session);
    if (gone === undefined) return now - r.seenAt < 5_000; // the sessions answer may still be on its way
    const session = t.sessions.get(r.session);
    if (gone === r.index && session && session.LockDelay > 0) {
      t.delays.push({ key: r.key, session, seenAt: r.seenAt, until: r.seenAt + session.LockDelay / 1e6 });
    }
    return false;
  });
  t.delays = t.delays.filter((d) => d.until > now);
  return t.delays;
}

function holderName(h: HolderView): string {
  if (h.holder?.name) return h.holder.name;
  if (h.session?.name) return h.session.name;
  if (h.holder) return `${h.holder.host}:${h.holder.pid}`;
  return h.session ? '(unnamed session)' : '(session gone)';
}

/** "held for": the holder's own record when it writes one, else how long this page has seen it. */
function heldFor(h: HolderView, firstSeen: number | undefined, now: number): string {
  if (h.ageMs !== null) return formatAge(h.ageMs);
  if (firstSeen !== undefined) return `≥ ${duration(now - firstSeen)} (seen here)`;
  return 'unknown';
}

function Holder({ dc, h, firstSeen, now, value }: { dc: string; h: HolderView; firstSeen: number | undefined; now: number; value?: string }) {
  return html`<dl class="facts holder">
    <div><dt>Holder</dt><dd data-testid="holder">${holderName(h)}</dd></div>
    <div><dt>Session</dt><dd class="mono"><a href=${`${ui(dc, 'sessions')}#${h.sessionId}`} title=${h.sessionId}>${h.sessionId.slice(0, 8)}</a>${h.session ? ` · TTL ${h.session.ttl || 'none'} · lock-delay ${nsDuration(h.session.lockDelayMs * 1e6)}` : ' · gone'}</dd></div>
    <div><dt>Node</dt><dd>${h.session ? html`<a href=${ui(dc, 'nodes', encodeURIComponent(h.session.node))}>${h.session.node}</a>` : '—'}</dd></div>
    <div><dt>Held for</dt><dd data-testid="held-for">${heldFor(h, firstSeen, now)}</dd></div>
    ${value !== undefined ? html`<div class="wide"><dt>Value</dt><dd class="mono value-cell" data-testid="holder-value">${value === '' ? '(empty)' : value}</dd></div>` : null}
  </dl>`;
}

function shortValue(pair: KVPair | undefined): string {
  if (!pair) return '';
  const text = asText(pair.value);
  if (text === undefined) return `(${pair.value?.length ?? 0} bytes, not UTF-8)`;
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

export function CoordinationPage({ dc }: { dc: string }) {
  const { kv, sessions } = useKvAndSessions();
  const delays = useLockDelays(kv, sessions);
  const firstSeen = useRef(new Map<string, number>());
  const now = useNow(1000);
  const live = [kv, sessions];
  const title = html`<${PageTitle} sub="Locks, semaphores and leader elections, recognised by their flags and records">Coordination<//>`;
  if (kv.data === undefined || sessions.data === undefined) return html`${title}<${Loading} live=${live} />`;
  const model: Inspection = inspect('', kv.data, sessions.data, Date.now());
  const pairs = new Map(kv.data.map((p) => [p.key, p]));
  const seen = (id: string): number | undefined => {
    if (!firstSeen.current.has(id)) firstSeen.current.set(id, Date.now());
    return firstSeen.current.get(id);
  };
  const empty = model.locks.length + model.semaphores.length + model.elections.length === 0;
  return html`${title}<${LiveLine} live=${live} />
    ${empty ? html`<p class="muted">Nothing is coordinated here yet: no lock, semaphore or election keys.</p>` : null}
    ${delays.length > 0
      ? html`<section aria-labelledby="delays-h" class="card warn" data-testid="lock-delays">
          <h2 id="delays-h">Lock-delay in force</h2>
          <ul>${delays.map(
            (d) => html`<li key=${d.key}><a class="mono" href=${ui(dc, 'kv', keyPath(d.key))}>${d.key}</a>: nobody can take it for about <strong>${duration(d.until - now)}</strong> more (session ${d.session.Name || d.session.ID.slice(0, 8)} ended while holding it; lock-delay ${nsDuration(d.session.LockDelay)}).</li>`,
          )}</ul>
        </section>`
      : null}
    ${model.locks.length > 0
      ? html`<h2>Locks</h2>${model.locks.map(
          (l) => html`<section class="card" data-kind="lock" data-key=${l.key} key=${l.key} aria-label=${`Lock ${l.key}`}>
            <h3><a class="mono" href=${ui(dc, 'kv', keyPath(l.key))}>${l.key}</a> ${l.holder ? html`<span class="badge badge-held">held</span>` : html`<span class="badge badge-free">free</span>`}</h3>
            ${l.holder
              ? html`<p>Fencing token <strong class="mono" data-testid="token">${l.modifyIndex}</strong> <span class="muted">(the key's ModifyIndex)</span></p>
                <${Holder} dc=${dc} h=${l.holder} firstSeen=${seen(`${l.key}@${l.holder.sessionId}`)} now=${now} value=${shortValue(pairs.get(l.key))} />`
              : html`<p class="muted">Nobody holds it.</p>`}
          </section>`,
        )}`
      : null}
    ${model.semaphores.length > 0
      ? html`<h2>Semaphores</h2>${model.semaphores.map(
          (s) => html`<section class="card" data-kind="semaphore" data-key=${s.prefix} key=${s.prefix} aria-label=${`Semaphore ${s.prefix}`}>
            <h3><a class="mono" href=${ui(dc, 'kv', `${keyPath(s.prefix)}/`)}>${s.prefix}/</a> <span class="badge" data-testid="permits">${s.holders.length} of ${s.limit ?? '?'} permits used</span></h3>
            ${s.problem !== undefined ? html`<p class="error">The record cannot be read: ${s.problem}</p>` : null}
            <meter min="0" max=${s.limit ?? 1} value=${s.holders.length} aria-label="permits used"></meter>
            <h4>Holders</h4>
            ${s.holders.length === 0 ? html`<p class="muted">None.</p>` : s.holders.map((h) => html`<${Holder} dc=${dc} h=${h} firstSeen=${seen(`${s.prefix}@${h.sessionId}`)} now=${now} value=${shortValue(pairs.get(`${s.prefix}/${h.sessionId}`))} />`)}
            <h4>Waiting <span class="muted">(in arrival order)</span></h4>
            ${s.waiting.length === 0 ? html`<p class="muted">Nobody is waiting.</p>` : html`<ol data-testid="waiting">${s.waiting.map((h) => html`<li>${holderName(h)} <span class="muted mono">${h.sessionId.slice(0, 8)}${h.session ? ` on ${h.session.node}` : ''}</span></li>`)}</ol>`}
            ${s.stale.length > 0 ? html`<p class="muted">Stale holders in the record (pruned by the next acquire): ${s.stale.map((id) => id.slice(0, 8)).join(', ')}</p>` : null}
          </section>`,
        )}`
      : null}
    ${model.elections.length > 0
      ? html`<h2>Leader elections</h2>${model.elections.map(
          (e) => html`<section class="card" data-kind="election" data-key=${e.key} key=${e.key} aria-label=${`Election ${e.key}`}>
            <h3><a class="mono" href=${ui(dc, 'kv', keyPath(e.key))}>${e.key}</a> <span class="badge badge-held">leader elected</span></h3>
            <p>Term <strong class="mono" data-testid="token">${e.fencingToken}</strong> <span class="muted">(fencing token: the key's CreateIndex)</span></p>
            <${Holder} dc=${dc} h=${e.leader} firstSeen=${seen(`${e.key}@${e.leader.sessionId}`)} now=${now} value=${shortValue(pairs.get(e.key))} />
          </section>`,
        )}`
      : null}
    <p class="muted small">${model.otherKeys} other key${model.otherKeys === 1 ? '' : 's'} hold plain data. Ages come from what a holder wrote about itself (our CLI and demo do); others show how long this page has seen them.</p>`;
}
