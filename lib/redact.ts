/**
 * Keeps credentials written into URLs (`https://user:password@host`) out of messages, logs
 * and output.
 *
 * @module
 */

/**
 * The user-information part of a URL: everything between `scheme://` and the last `@` before
 * the path. Greedy, so that an unencoded `@` in a password does not leave its tail behind;
 * it stops at quotes, so that it never runs from one quoted string into the next.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s"'<>\\]*@/gi;

/**
 * Replaces the user and password of every URL in `text` with `***`; the rest is unchanged.
 *
 * @example Usage
 * ```ts
 * redactUrls('Invalid endpoint "https://agent:s3cret@minio:9000"');
 * // 'Invalid endpoint "https://***@minio:9000"'
 * ```
 */
export function redactUrls(text: string): string {
  return text.replace(URL_CREDENTIALS, "$1***@");
}
