/**
 * A scrape worker that crashes on its start message: an uncaught error, as a bug in the
 * scrape loop would throw.
 *
 * @module
 */
/// <reference lib="deno.worker" />
self.onmessage = (event: MessageEvent<{ type: string }>) => {
  if (event.data.type === "start") throw new Error("planned crash");
};
