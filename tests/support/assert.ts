/**
 * The few assertions the tests use (Deno's std/assert lives on JSR, which this build
 * cannot reach), built on `node:assert` so that failures show a diff.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts that `condition` is truthy. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  nodeAssert.ok(
    text.includes(part),
    message ?? `expected ${JSON.stringify(text)} to contain ${JSON.stringify(part)}`,
  );
}

/** Asserts that `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(text, pattern, message);
}

/** Asserts that `fn` rejects with an error of `type` whose message contains `part`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  type: abstract new (...args: never[]) => Error,
  part?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    nodeAssert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    if (part) assertStringIncludes((error as Error).message, part);
    return error as Error;
  }
  throw new nodeAssert.AssertionError({ message: `expected a rejection with ${type.name}` });
}

/** Asserts that `fn` throws an error of `type` whose message contains `part`. */
export function assertThrows(
  fn: () => unknown,
  type: abstract new (...args: never[]) => Error,
  part?: string,
): Error {
  try {
    fn();
  } catch (error) {
    nodeAssert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    if (part) assertStringIncludes((error as Error).message, part);
    return error as Error;
  }
  throw new nodeAssert.AssertionError({ message: `expected ${type.name} to be thrown` });
}

/** Runs `fn` with a new temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "agent-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs `fn` with a small tmpfs mounted on `path` (created), unmounted afterwards: a disk
 * that fills up. Needs root; without it, prints a SKIP line and runs nothing.
 */
export async function withSmallDisk(
  path: string,
  size: string,
  fn: () => Promise<void>,
): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path],
    stderr: "null",
  }).output().catch(() => undefined);
  if (!mounted?.success) {
    // deno-lint-ignore no-console
    console.warn("SKIP: mount (root, to make a small tmpfs) is not available; test ignored");
    return;
  }
  try {
    await fn();
  } finally {
    await new Deno.Command("umount", { args: [path] }).output();
  }
}
