/**
 * `/ui/<dc>/kv/<path>`: folders (a path ending in '/', or empty) and keys. A key shows its value
 * as text, JSON or hex with flags and indexes; edits and deletes use check-and-set against the
 * ModifyIndex the user saw, so a conflicting change is refused rather than overwritten.
 */
import { useState } from 'preact/hooks';
import { ConfigError } from '../../../errors.js';
import { validateKey } from '../../../internal/keys.js';
import { apiUrl, getJson, keyPath, parseJson, parseKvList, useLive, write, type KVPair } from '../api.js';
import { asJson, asText, bytes, flagsMeaning, hexDump } from '../format.js';
import { html } from '../html.js';
import { LiveLine, Loading, PageTitle, ui } from './common.js';

/** Consul's default `kv_max_value_size`. */
export const MAX_VALUE_BYTES = 512 * 1024;
const MAX_FLAGS = (1n << 64n) - 1n;

/** Why a write must not be sent, or undefined when it may. Nothing is written on a message. */
export function writeProblem(key: string, value: Uint8Array, flags: string): string | undefined {
  try {
    validateKey('The key name', key);
  } catch (err) {
    if (err instanceof ConfigError) return `${err.message}. Nothing was written.`;
    throw err;
  }
  if (value.length > MAX_VALUE_BYTES) {
    return `The value is ${bytes(value.length)} (${value.length} bytes); Consul stores at most 512 KiB (${MAX_VALUE_BYTES} bytes) per key. Nothing was written.`;
  }
  if (!/^\d+$/.test(flags.trim()) || BigInt(flags.trim()) > MAX_FLAGS) {
    return `Flags must be a whole number from 0 to ${MAX_FLAGS}. Nothing was written.`;
  }
  return undefined;
}

function kvLink(dc: string, path: string): string {
  return ui(dc, 'kv', keyPath(path));
}

function Breadcrumbs({ dc, path }: { dc: string; path: string }) {
  const parts = path.split('/');
  const folders = parts.slice(0, -1);
  return html`<nav aria-label="Key path" class="crumbs"><ol>
    <li><a href=${ui(dc, 'kv', '')}>Key / Value</a></li>
    ${folders.map((part, i) => html`<li><a href=${kvLink(dc, `${folders.slice(0, i + 1).join('/')}/`)}>${part}</a></li>`)}
  </ol></nav>`;
}

type Message = { kind: 'error' | 'ok'; text: string } | undefined;

function Notice({ message }: { message: Message }) {
  if (message === undefined) return null;
  return html`<p class=${message.kind === 'error' ? 'error' : 'ok'} role=${message.kind === 'error' ? 'alert' : 'status'} data-testid="notice">${message.text}</p>`;
}

export function KvPage({ dc, path }: { dc: string; path: string }) {
  return path === '' || path.endsWith('/') ? html`<${Folder} dc=${dc} prefix=${path} key=${path} />` : html`<${KeyView} dc=${dc} keyName=${path} key=${path} />`;
}

function Folder({ dc, prefix }: { dc: string; prefix: string }) {
  const listing = useLive(`/v1/kv/${keyPath(prefix)}`, { keys: '', separator: '/' }, parseJson<string[]>([]));
  const [creating, setCreating] = useState(false);
  const [confirming, setConfirming] = useState<number | undefined>(undefined);
  const [message, setMessage] = useState<Message>(undefined);
  const title = html`<${PageTitle} sub=${prefix === '' ? 'Key / Value store' : html`<${Breadcrumbs} dc=${dc} path=${prefix} />`}>${prefix === '' ? 'Key / Value' : prefix}<//>`;
  if (listing.data === undefined) return html`${title}<${Loading} live=${listing} />`;
  const entries = listing.data.filter((k) => k !== prefix);
  const askDelete = async (): Promise<void> => {
    const all = await getJson<string[]>(`/v1/kv/${keyPath(prefix)}`, { keys: '' }).catch(() => []);
    setConfirming(all.length);
  };
  const deleteAll = async (): Promise<void> => {
    try {
      await write('DELETE', apiUrl(`/v1/kv/${keyPath(prefix)}`, { recurse: '' }));
      setConfirming(undefined);
      const parent = prefix.slice(0, -1).split('/').slice(0, -1).join('/');
      window.history.pushState(null, '', kvLink(dc, parent === '' ? '' : `${parent}/`));
      window.dispatchEvent(new PopStateEvent('popstate'));
    } catch (err) {
      setMessage({ kind: 'error', text: `Not deleted: ${(err as Error).message}` });
    }
  };
  return html`${title}<${LiveLine} live=${listing} />
    <div class="actions">
      <button type="button" onClick=${() => setCreating(!creating)} aria-expanded=${creating}>Create key or folder</button>
      ${prefix !== '' ? html`<button type="button" class="danger" onClick=${askDelete}>Delete folder…</button>` : null}
    </div>
    <${Notice} message=${message} />
    ${confirming !== undefined
      ? html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-folder" data-testid="confirm">
          <p id="confirm-folder">Delete <strong>${prefix}</strong> and every key under it (${confirming} key${confirming === 1 ? '' : 's'})? This cannot be undone.</p>
          <button type="button" class="danger" onClick=${deleteAll}>Delete ${confirming} key${confirming === 1 ? '' : 's'}</button>
          <button type="button" onClick=${() => setConfirming(undefined)}>Cancel</button>
        </div>`
      : null}
    ${creating ? html`<${CreateForm} dc=${dc} prefix=${prefix} />` : null}
    ${entries.length === 0
      ? html`<p class="muted">This folder is empty.</p>`
      : html`<ul class="kv-list" data-testid="kv-list">${entries.map((k) => {
          const name = k.slice(prefix.length);
          const folder = k.endsWith('/');
          return html`<li key=${k}><a href=${kvLink(dc, k)}><span aria-hidden="true">${folder ? '📁' : '📄'}</span> ${name}</a>${folder ? html`<span class="sr-only"> (folder)</span>` : null}</li>`;
        })}</ul>`}`;
}

function CreateForm({ dc, prefix }: { dc: string; prefix: string }) {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [flags, setFlags] = useState('0');
  const [message, setMessage] = useState<Message>(undefined);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const key = prefix + name;
    const body = new TextEncoder().encode(name.endsWith('/') ? '' : value);
    const problem = name === '' ? 'Enter a key name. Nothing was written.' : writeProblem(key, body, flags);
    if (problem !== undefined) return setMessage({ kind: 'error', text: problem });
    try {
      // cas=0: create only; an existing key is left alone.
      const ok = await write('PUT', apiUrl(`/v1/kv/${keyPath(key)}`, { cas: 0, flags: flags.trim() }), body);
      if (!ok) return setMessage({ kind: 'error', text: `Not created: ${key} already exists.` });
      window.history.pushState(null, '', kvLink(dc, key));
      window.dispatchEvent(new PopStateEvent('popstate'));
    } catch (err) {
      setMessage({ kind: 'error', text: `Not created: ${(err as Error).message}` });
    }
  };
  return html`<form class="card form" onSubmit=${submit} aria-label="Create a key">
    <h2>Create in ${prefix === '' ? 'the root' : prefix}</h2>
    <label for="new-key">Key name <span class="muted">(end with / for a folder)</span></label>
    <input id="new-key" name="key" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} autocomplete="off" spellcheck=${false} />
    <label for="new-value">Value</label>
    <textarea id="new-value" name="value" rows="6" value=${value} onInput=${(e: Event) => setValue((e.target as HTMLTextAreaElement).value)}></textarea>
    <label for="new-flags">Flags</label>
    <input id="new-flags" name="flags" inputmode="numeric" value=${flags} onInput=${(e: Event) => setFlags((e.target as HTMLInputElement).value)} />
    <${Notice} message=${message} />
    <div class="actions"><button type="submit" class="primary">Create</button></div>
  </form>`;
}

type Mode = 'text' | 'json' | 'hex';

function KeyView({ dc, keyName }: { dc: string; keyName: string }) {
  const live = useLive(`/v1/kv/${keyPath(keyName)}`, {}, (body) => parseKvList(body)[0] ?? null);
  const [mode, setMode] = useState<Mode | undefined>(undefined);
  const [editing, setEditing] = useState<KVPair | undefined>(undefined);
  const [confirming, setConfirming] = useState(false);
  const [message, setMessage] = useState<Message>(undefined);
  const title = html`<${PageTitle} sub=${html`<${Breadcrumbs} dc=${dc} path=${keyName} />`}>${keyName}<//>`;
  if (live.data === undefined) return html`${title}<${Loading} live=${live} />`;
  const pair = live.data;
  if (pair === null) {
    return html`${title}<${LiveLine} live=${live} /><${Notice} message=${message} />
      <p data-testid="missing">The key ${keyName} does not exist.</p>`;
  }
  const text = asText(pair.value);
  const json = asJson(text);
  const shown: Mode = mode ?? (text === undefined ? 'hex' : json !== undefined ? 'json' : 'text');
  const meaning = flagsMeaning(pair.flags);
  const remove = async (): Promise<void> => {
    try {
      const ok = await write('DELETE', apiUrl(`/v1/kv/${keyPath(keyName)}`, { cas: pair.modifyIndex }));
      setConfirming(false);
      setMessage(ok ? { kind: 'ok', text: `Deleted ${keyName}.` } : { kind: 'error', text: `Not deleted: ${keyName} changed since you looked (it was at index ${pair.modifyIndex}). Check the new value and try again.` });
    } catch (err) {
      setMessage({ kind: 'error', text: `Not deleted: ${(err as Error).message}` });
    }
  };
  const modeButton = (m: Mode, label: string, disabled: boolean) =>
    html`<button type="button" aria-pressed=${shown === m} disabled=${disabled} onClick=${() => setMode(m)}>${label}</button>`;
  return html`${title}<${LiveLine} live=${live} />
    <dl class="facts" data-testid="kv-meta">
      <div><dt>Flags</dt><dd class="mono" data-testid="flags">${pair.flags.toString()} <span class="muted">(0x${pair.flags.toString(16)})</span>${meaning ? html` · ${meaning}` : null}</dd></div>
      <div><dt>CreateIndex</dt><dd class="mono" data-testid="create-index">${pair.createIndex}</dd></div>
      <div><dt>ModifyIndex</dt><dd class="mono" data-testid="modify-index">${pair.modifyIndex}</dd></div>
      <div><dt>LockIndex</dt><dd class="mono">${pair.lockIndex}</dd></div>
      <div><dt>Session</dt><dd class="mono">${pair.session ? html`<a href=${`${ui(dc, 'sessions')}#${pair.session}`}>${pair.session}</a>` : '—'}</dd></div>
      <div><dt>Size</dt><dd>${bytes(pair.value?.length ?? 0)}</dd></div>
    </dl>
    <${Notice} message=${message} />
    ${editing
      ? html`<${Editor} dc=${dc} keyName=${keyName} base=${editing} current=${pair} onDone=${(m: Message) => { setEditing(undefined); setMessage(m); }} />`
      : html`
      <div class="toolbar" role="group" aria-label="Show the value as">
        ${modeButton('text', 'Text', text === undefined)}${modeButton('json', 'JSON', json === undefined)}${modeButton('hex', 'Hex', false)}
      </div>
      ${text === undefined ? html`<p class="note" data-testid="binary-note">This value is not valid UTF-8, so it is shown as hex.</p>` : null}
      <pre class="value" data-testid="value" data-mode=${shown} tabindex="0" aria-label="Value">${shown === 'hex' ? hexDump(pair.value) : shown === 'json' ? json : text === '' ? '(empty)' : text}</pre>
      <div class="actions">
        <button type="button" class="primary" disabled=${text === undefined} title=${text === undefined ? 'Binary values cannot be edited here' : ''} onClick=${() => { setMessage(undefined); setEditing(pair); }}>Edit</button>
        <button type="button" class="danger" onClick=${() => setConfirming(true)}>Delete…</button>
      </div>
      ${confirming
        ? html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-key" data-testid="confirm">
            <p id="confirm-key">Delete the key <strong>${keyName}</strong>?</p>
            <button type="button" class="danger" onClick=${remove}>Delete</button>
            <button type="button" onClick=${() => setConfirming(false)}>Cancel</button>
          </div>`
        : null}`}`;
}

function Editor({ keyName, base, current, onDone }: { dc: string; keyName: string; base: KVPair; current: KVPair; onDone: (m: Message) => void }) {
  const [value, setValue] = useState(asText(base.value) ?? '');
  const [flags, setFlags] = useState(base.flags.toString());
  const [message, setMessage] = useState<Message>(undefined);
  const changed = current.modifyIndex !== base.modifyIndex;
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const body = new TextEncoder().encode(value);
    const problem = writeProblem(keyName, body, flags);
    if (problem !== undefined) return setMessage({ kind: 'error', text: problem });
    try {
      const ok = await write('PUT', apiUrl(`/v1/kv/${keyPath(keyName)}`, { cas: base.modifyIndex, flags: flags.trim() }), body);
      if (!ok) {
        return setMessage({
          kind: 'error',
          text: `Not saved: ${keyName} was changed by someone else since you started editing (you edited index ${base.modifyIndex}; it is now ${current.modifyIndex}). Your text is kept here: cancel to see the new value, then edit again.`,
        });
      }
      onDone({ kind: 'ok', text: 'Saved.' });
    } catch (err) {
      setMessage({ kind: 'error', text: `Not saved: ${(err as Error).message}` });
    }
  };
  return html`<form class="card form" onSubmit=${submit} aria-label=${`Edit ${keyName}`}>
    <h2>Edit (check-and-set at index ${base.modifyIndex})</h2>
    ${changed ? html`<p class="note" role="status">This key has changed since you started editing (now index ${current.modifyIndex}); saving will be refused.</p>` : null}
    <label for="edit-value">Value</label>
    <textarea id="edit-value" name="value" rows="10" value=${value} onInput=${(e: Event) => setValue((e.target as HTMLTextAreaElement).value)}></textarea>
    <label for="edit-flags">Flags</label>
    <input id="edit-flags" name="flags" inputmode="numeric" value=${flags} onInput=${(e: Event) => setFlags((e.target as HTMLInputElement).value)} />
    <${Notice} message=${message} />
    <div class="actions">
      <button type="submit" class="primary">Save</button>
      <button type="button" onClick=${() => onDone(undefined)}>Cancel</button>
    </div>
  </form>`;
}
