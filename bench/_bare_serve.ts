/**
 * The peer of bench/idle_rss.ts: a bare `Deno.serve` on 127.0.0.1:PORT answering every
 * request with a short text, and nothing else.
 *
 * Run: deno run --allow-net=127.0.0.1 bench/_bare_serve.ts PORT
 *
 * @module
 */
Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} },
  () => new Response("# no metrics\n"),
);
