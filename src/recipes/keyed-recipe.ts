/**
 * The shape of a recipe that owns no session and no background loop (Barrier, Counter): one key,
 * a state that is `open` until `close()`, and a place in the Coordinator's lifetime so that
 * `coord.close()` closes it. `close()` is idempotent and aborts `closedSignal`, which every wait of
 * the recipe links to, so a running wait rejects with the recipe's `ClosedError`.
 */
import { ClosedError } from '../errors.js';
import { SafeEmitter } from '../internal/safe-emitter.js';
import { StateMachine, type MachineSpec, type Moves } from '../internal/state-machine.js';
import { contextOf, type RecipeContext, type RecipeHost } from './context.js';

export type KeyedRecipeState = 'open' | 'closed';

const KEYED_RECIPE_MOVES: Moves<KeyedRecipeState> = Object.freeze({ open: ['closed'], closed: [] });
const KEYED_RECIPE_MACHINE: MachineSpec<KeyedRecipeState> = Object.freeze({ initial: 'open', moves: KEYED_RECIPE_MOVES });

export abstract class KeyedRecipe<E extends object> extends SafeEmitter<E> {
  readonly key: string;
  protected readonly ctx: RecipeContext;
  private readonly machine: StateMachine<KeyedRecipeState>;
  private readonly closed = new AbortController();

  /** `what` names the recipe in logs and errors, e.g. `barrier "jobs/ready"`. */
  protected constructor(
    host: RecipeHost,
    key: string,
    private readonly what: string,
  ) {
    const ctx = contextOf(host);
    super(ctx.logger, what);
    this.ctx = ctx;
    this.key = key;
    this.machine = new StateMachine<KeyedRecipeState>(KEYED_RECIPE_MACHINE, this, what, ctx.logger);
    ctx.lifetime.track(this);
  }

  get state(): KeyedRecipeState {
    return this.machine.state;
  }

  /** Stops every running wait (they reject with `ClosedError`). Idempotent. */
  async close(): Promise<void> {
    if (this.machine.is('closed')) return;
    this.closed.abort(this.closedError());
    this.machine.transition('closed');
    this.ctx.lifetime.untrack(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Aborted by `close()`: link every wait to it. */
  protected get closedSignal(): AbortSignal {
    return this.closed.signal;
  }

  protected closedError(): ClosedError {
    return new ClosedError(this.what);
  }
}
