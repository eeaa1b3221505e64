/**
 * The one state machine of every recipe, the session and the service registration.
 *
 * A class keeps its lifecycle in one `StateMachine<S>`: a table of allowed moves, and
 * `transition(to, cause)` as the only way to change state. A transition:
 * 1. checks the table — an illegal move throws {@link IllegalStateError}. This is the one policy,
 *    everywhere: a move the table does not allow is a bug in the class, never a caller's mistake
 *    (callers get their errors before a transition is attempted), and silently ignoring it hid
 *    bugs before. Code that may race with another ending (a re-registration finishing while a
 *    deregistration started) asks `can(to)` first and says why in a comment;
 * 2. sets the state;
 * 3. runs `beforeEmit` — where handles' signals are aborted, so no listener ever sees a live
 *    signal in a state that ended it;
 * 4. logs the move at debug level;
 * 5. runs `emit`, which emits the move's event (through a {@link SafeEmitter}, so a listener
 *    cannot undo any of the above).
 *
 * Memory: a class describes its machine once, in a module-level {@link MachineSpec} (the table
 * and the hooks, which receive the owner as their first argument), so an instance costs its
 * current state and three references, not a copy of the options and a closure per hook.
 */
import { IllegalStateError } from '../errors.js';
import type { Logger } from './logger.js';

export type Moves<S extends string> = Readonly<Record<S, readonly S[]>>;

/** What a class's machine looks like; one shared, frozen object per class. `O` is the owner. */
export interface MachineSpec<S extends string, C = undefined, O = unknown> {
  readonly initial: S;
  /** Allowed moves: `moves[from]` lists every state reachable from `from`. */
  readonly moves: Moves<S>;
  /** Extra fields of the debug log line (never a token). */
  readonly logFields?: (owner: O, cause: C | undefined) => Record<string, unknown>;
  /** Runs after the state changed, before the log line and any event: abort signals here. */
  readonly beforeEmit?: (owner: O, from: S, to: S, cause: C | undefined) => void;
  /** Emits the move's event, if it has one. */
  readonly emit?: (owner: O, from: S, to: S, cause: C | undefined) => void;
}

export class StateMachine<S extends string, C = undefined, O = unknown> {
  private current: S;

  /**
   * @param spec the class's table and hooks (shared by its instances)
   * @param owner what the hooks act on (the recipe)
   * @param what names the owner in logs and errors (`lock "jobs/x"`)
   */
  constructor(
    private readonly spec: MachineSpec<S, C, O>,
    private readonly owner: O,
    private readonly what: string,
    private readonly logger: Logger,
  ) {
    this.current = spec.initial;
  }

  get state(): S {
    return this.current;
  }

  /** True when the table allows moving from the current state to `to`. */
  can(to: S): boolean {
    return this.spec.moves[this.current].includes(to);
  }

  /** True when the current state is one of `states`. */
  is(...states: S[]): boolean {
    return states.includes(this.current);
  }

  /** The only way to change state; see the file comment for the order of its steps. */
  transition(to: S, cause?: C): void {
    const from = this.current;
    if (!this.can(to)) {
      throw new IllegalStateError(`${this.what}: no transition from ${from} to ${to}`, from);
    }
    this.current = to;
    const { spec, owner } = this;
    spec.beforeEmit?.(owner, from, to, cause);
    this.logger.debug({ what: this.what, from, to, ...spec.logFields?.(owner, cause) }, 'state');
    spec.emit?.(owner, from, to, cause);
  }
}
