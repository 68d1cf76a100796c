/**
 * The bearer token the daemon's HTTP API requires (`server.bearerTokenFile`), read where it
 * is needed: by the daemon, and by commands that ask the running daemon.
 *
 * @module
 */
import { ConfigError, errorMessage } from "../errors.ts";

/**
 * Reads the bearer token in `file` (none when `file` is empty).
 *
 * @throws {ConfigError} when the file cannot be read or is empty.
 *
 * @example Usage
 * ```ts ignore
 * const token = await readBearerToken(config.server.bearerTokenFile);
 * ```
 */
export async function readBearerToken(file: string): Promise<string | undefined> {
  if (!file) return undefined;
  let token: string;
  try {
    token = (await Deno.readTextFile(file)).trim();
  } catch (error) {
    throw new ConfigError(`Cannot read server.bearerTokenFile "${file}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
  if (!token) throw new ConfigError(`server.bearerTokenFile "${file}" is empty`);
  return token;
}
