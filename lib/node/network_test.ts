import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import { networkCollector } from "./network.ts";
import { HOST, pathsAt, samples, value, withHost } from "./_testing.ts";

Deno.test("networkCollector reads /proc/net/dev and /sys/class/net with node_exporter's names", async () => {
  const { families, problems } = await collectNode([networkCollector], pathsAt(HOST));
  assertEquals(value(families, "node_network_receive_bytes_total", { device: "eth0" }), 382459525);
  assertEquals(value(families, "node_network_transmit_packets_total", { device: "eth0" }), 10328);
  assertEquals(value(families, "node_network_transmit_colls_total", { device: "lo" }), 0);
  assertEquals(
    samples(families, "node_network_receive_errs_total").map((s) => s.labels.device),
    ["lo", "ifb0", "ifb1", "eth0"],
  );
  // From sysfs, for the devices it has (ifb1 was not captured).
  assertEquals(
    samples(families, "node_network_receive_nohandler_total").map((s) => s.labels.device),
    ["lo", "ifb0", "eth0"],
  );
  assertEquals(value(families, "node_network_up", { device: "eth0" }), 1);
  assertEquals(value(families, "node_network_up", { device: "lo" }), 0);
  assertEquals(value(families, "node_network_mtu_bytes", { device: "eth0" }), 1400);
  // flags 0x1003, hexadecimal.
  assertEquals(value(families, "node_network_flags", { device: "eth0" }), 4099);
  // speed -1 (unknown) is exported as node_exporter does.
  assertEquals(value(families, "node_network_speed_bytes", { device: "eth0" }), -125000);
  // A device that is down has no carrier, speed or duplex: those are left out.
  assertEquals(value(families, "node_network_carrier", { device: "ifb0" }), undefined);
  assertEquals(value(families, "node_network_carrier", { device: "eth0" }), 1);
  assertEquals(
    samples(families, "node_network_info").find((s) => s.labels.device === "eth0")?.labels,
    {
      device: "eth0",
      address: "02:fc:00:00:00:01",
      broadcast: "ff:ff:ff:ff:ff:ff",
      duplex: "unknown",
      operstate: "up",
      adminstate: "up",
      ifalias: "",
    },
  );
  assertEquals(
    samples(families, "node_network_info").find((s) => s.labels.device === "ifb0")?.labels
      .adminstate,
    "down",
  );
  assertEquals([...problems], []);
});

Deno.test("networkCollector prefers the host init's /proc/1/net/dev, reads a line without spaces", () =>
  withHost(async (root) => {
    await Deno.mkdir(`${root}proc/1/net`, { recursive: true });
    await Deno.writeTextFile(
      `${root}proc/1/net/dev`,
      "Inter-|   Receive\n face |bytes\n" +
        "  eth0:4294967296 7 0 0 0 0 0 0 9 8 0 0 0 0 0 0\n" +
        "  eth1: 1 2 3\n",
    );
    await Deno.writeTextFile(`${root}sys/class/net/bonding_masters`, "bond0\n");
    const { families, problems } = await collectNode([networkCollector], pathsAt(root));
    assertEquals(
      samples(families, "node_network_receive_bytes_total").map((s) => [s.labels.device, s.value]),
      [["eth0", 4294967296]],
    );
    // bonding_masters is a file of /sys/class/net, not a device.
    assertEquals(
      samples(families, "node_network_up").map((s) => s.labels.device),
      ["eth0", "ifb0", "lo"],
    );
    assertEquals([...problems], [[`${root}proc/1/net/dev`, 'malformed line "eth1: 1 2 3"']]);
  }));

Deno.test("networkCollector fails only when neither source is there", () =>
  withHost(async (root) => {
    await Deno.remove(`${root}proc/net/dev`);
    const some = await collectNode([networkCollector], pathsAt(root));
    assertEquals(value(some.families, "node_network_mtu_bytes", { device: "lo" }), 65536);
    assertEquals(value(some.families, "node_scrape_collector_success"), 1);
    await Deno.remove(`${root}sys/class/net`, { recursive: true });
    const none = await collectNode([networkCollector], pathsAt(root));
    assertEquals(value(none.families, "node_scrape_collector_success"), 0);
  }));
