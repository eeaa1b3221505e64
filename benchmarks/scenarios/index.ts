/** Every scenario, in the order the suite runs them. */
import type { Scenario } from '../lib/scenario.js';
import { config } from './config.js';
import { discovery } from './discovery.js';
import { election } from './election.js';
import { floor } from './floor.js';
import { handoff } from './handoff.js';
import { lockCycle } from './lock-cycle.js';
import { memory } from './memory.js';
import { semaphore } from './semaphore.js';

export const scenarios: readonly Scenario[] = [floor, lockCycle, handoff, semaphore, election, config, discovery, memory];
