import { assertEquals } from "../../tests/support/assert.ts";
import { formatListenAddress, parseListenAddress, parseSocketEndpoint } from "./address.ts";

Deno.test("parseListenAddress() reads HOST:PORT, [IPv6]:PORT and :PORT", () => {
  assertEquals(parseListenAddress("127.0.0.1:8090"), { hostname: "127.0.0.1", port: 8090 });
  assertEquals(parseListenAddress("node-1.local:0"), { hostname: "node-1.local", port: 0 });
  assertEquals(parseListenAddress("[::1]:9000"), { hostname: "::1", port: 9000 });
  assertEquals(parseListenAddress(":8090"), { hostname: "0.0.0.0", port: 8090 });
});

Deno.test("parseListenAddress() rejects what it cannot listen on", () => {
  for (const text of ["nowhere", "8090", "::1:8090", "host:99999", "host:", "a b:1", "[x]:1"]) {
    assertEquals(parseListenAddress(text), undefined, text);
  }
});

Deno.test("formatListenAddress() writes the address back", () => {
  for (const text of ["127.0.0.1:8090", "[::1]:9000"]) {
    assertEquals(formatListenAddress(parseListenAddress(text)!), text);
  }
});

Deno.test("parseSocketEndpoint() accepts a path or unix:///path and rejects anything else", () => {
  assertEquals(
    parseSocketEndpoint("/run/containerd/containerd.sock"),
    "/run/containerd/containerd.sock",
  );
  assertEquals(parseSocketEndpoint("unix:///run/crio/crio.sock"), "/run/crio/crio.sock");
  for (const text of ["run/x.sock", "tcp://host:1", "unix://relative", ""]) {
    assertEquals(parseSocketEndpoint(text), undefined, text);
  }
});
