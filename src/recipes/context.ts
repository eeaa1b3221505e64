/**
 * What a recipe needs from its owner, and nothing more: the Consul API, the logger and the
 * lifetime registry. Recipes depend on this narrow interface, never on `Coordinator`; the
 * Coordinator hands its context over under a symbol that is not part of the public API, so
 * `new Lock(coord, key)` keeps working while `track`/`assertOpen` stay off the public surface.
 */
import type { Logger } from '../internal/logger.js';
import type { ConsulApi } from '../transport/index.js';

/** Something the owner closes when it closes. */
export interface Closeable {
  close(): Promise<void>;
  /**
   * Resources close in phases, lowest first (newest first within a phase). Sessions use phase 1
   * so every lock, permit and leadership is released before the session under it is destroyed
   * (destroying first would set lock-delay on the keys and report losses). @default 0
   */
  readonly closePhase?: number;
}

/** Owns the lifetime of what recipes create. */
export interface Lifetime {
  /** Registers a resource to be closed with the owner. Throws `ClosedError` once closed. */
  track(resource: Closeable): void;
  /**
   * Unregisters a resource (it closed by itself). A method rather than a function returned by
   * `track`, so a resource keeps no closure for it.
   */
  untrack(resource: Closeable): void;
  /** Throws `ClosedError` once the owner is closed. */
  assertOpen(what?: string): void;
}

export interface RecipeContext {
  readonly api: ConsulApi;
  readonly logger: Logger;
  readonly lifetime: Lifetime;
}

/** Key under which an owner (the Coordinator) exposes its {@link RecipeContext}. */
export const RECIPE_CONTEXT: unique symbol = Symbol('consul-recipes.context');

/** What recipes accept: a Coordinator (anything exposing a context), or a context itself (tests). */
export type RecipeHost = RecipeContext | { readonly [RECIPE_CONTEXT]: RecipeContext };

export function contextOf(host: RecipeHost): RecipeContext {
  return RECIPE_CONTEXT in host ? host[RECIPE_CONTEXT] : host;
}
