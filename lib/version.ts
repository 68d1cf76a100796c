/**
 * The agent's version, embedded so that a compiled binary needs no file beside it.
 *
 * @module
 */

/** Semantic version of this build. */
export const VERSION = "0.1.0";
