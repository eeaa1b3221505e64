/** Injected into the UI bundle: the `Buffer` global the shared model code uses. */
import { Buffer } from 'buffer';

export { Buffer };
