/** Preact + htm: JSX-like templates without a compile step (htm's Preact binding). */
export { html } from 'htm/preact';
