/**
 * The platform emulator in its own process for the platform benchmark: registers the client
 * whose public key (JWK) is the first argument, prints its URL, and on each stdin line prints
 * how many events it has received so far.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { PlatformEmulator } from "../tests/support/platform.ts";

const platform = await PlatformEmulator.start();
platform.registerClient("bench", JSON.parse(Deno.args[0]!));
console.log(platform.url);
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
for await (const chunk of lines) {
  for (const _ of chunk.split("\n").slice(0, -1)) {
    // Only the count: the bodies are not kept, so the platform's memory stays flat.
    let events = 0;
    for (const batch of platform.batches) events += batch.body.events.length;
    console.log(String(events));
    platform.rawBodies.length = 0;
  }
}
await platform.close();
