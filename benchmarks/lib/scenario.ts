/** What a scenario is: a name, and a run that returns table rows (and writes its JSON). */
import type { Row } from './table.js';

export interface Profile {
  /** `bench:smoke`: tiny sizes, seconds in all; proves the scripts run, numbers mean little. */
  readonly smoke: boolean;
}

/** Picks the full or the smoke size. */
export function size<T>(profile: Profile, full: T, smoke: T): T {
  return profile.smoke ? smoke : full;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  run(profile: Profile): Promise<Row[]>;
}

export const log = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
