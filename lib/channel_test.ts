import { assertEquals } from "../tests/support/assert.ts";
import { Channel } from "./channel.ts";

Deno.test("Channel.publish() reaches every subscriber, past one that throws", () => {
  const errors: unknown[] = [];
  const channel = new Channel<string>((error) => errors.push(error));
  const seen: string[] = [];
  channel.subscribe(() => {
    throw new Error("bad subscriber");
  });
  const unsubscribe = channel.subscribe((value) => seen.push(value));
  channel.publish("a");
  unsubscribe();
  channel.publish("b");
  assertEquals(seen, ["a"]);
  assertEquals(errors.map((e) => (e as Error).message), ["bad subscriber", "bad subscriber"]);
});
