/**
 * Raw watch streams read one event at a time, for the tests that check the watch protocol
 * itself (kubectl does not expose resuming, bookmarks or 410 Gone).
 *
 * @module
 */
import type { Json } from "./_match.ts";

/** The events of a watch response. */
export interface WatchEvents {
  /** The next event, or `undefined` once the server ended the stream. */
  next(): Promise<Json | undefined>;
  close(): Promise<void>;
}

/** Reads a watch response's newline-delimited JSON events. */
export function watchEvents(response: Response): WatchEvents {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next() {
      while (!buffer.includes("\n")) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        buffer += value;
      }
      const at = buffer.indexOf("\n");
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      return JSON.parse(line);
    },
    close: () => reader.cancel(),
  };
}

/** `TYPE name` of an event, `end` for the end of the stream. */
export function summary(event: Json | undefined): string {
  if (!event) return "end";
  const m = (event.object as Json).metadata as Json;
  return `${event.type} ${m.name ?? ""}`.trim();
}
