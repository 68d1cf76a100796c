import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import { netstatCollector, parsePairs } from "./netstat.ts";
import { HOST, pathsAt, samples, value, withHost } from "./_testing.ts";
import { pageSize } from "./_read.ts";

Deno.test("netstatCollector reads the default fields, sockets and TCP states", async () => {
  const { families, problems } = await collectNode([netstatCollector], pathsAt(HOST));
  assertEquals(value(families, "node_netstat_Tcp_ActiveOpens"), 290545);
  assertEquals(value(families, "node_netstat_TcpExt_ListenDrops"), 41219);
  assertEquals(value(families, "node_netstat_Ip_Forwarding"), 2);
  assertEquals(value(families, "node_netstat_Ip6_InOctets"), 128);
  assertEquals(value(families, "node_netstat_Icmp6_OutMsgs"), 9);
  // Not in the default fields.
  assertEquals(value(families, "node_netstat_Ip_DefaultTTL"), undefined);
  assertEquals(families.find((f) => f.name === "node_netstat_Tcp_InSegs")?.type, "untyped");
  assertEquals(value(families, "node_sockstat_sockets_used"), 28);
  assertEquals(value(families, "node_sockstat_TCP_mem_bytes"), 195 * pageSize());
  assertEquals(value(families, "node_sockstat_FRAG6_memory"), 0);
  // Two listeners in tcp; tcp6 has its header only.
  assertEquals(
    samples(families, "node_tcp_connection_states").map((s) => [s.labels.state, s.value]),
    [
      ["listen", 2],
      ["rx_queued_bytes", 0],
      ["tx_queued_bytes", 0],
    ],
  );
  assertEquals([...problems], []);
});

Deno.test("parsePairs() pairs names with values, and skips a protocol whose counts differ", () => {
  const bad: string[] = [];
  const pairs = parsePairs(
    "Tcp: RtoAlgorithm InSegs\nTcp: 1 100\nUdp: InDatagrams NoPorts\nUdp: 5\n",
    (problem) => bad.push(problem),
  );
  assertEquals([...pairs], [["Tcp_RtoAlgorithm", 1], ["Tcp_InSegs", 100]]);
  assertEquals(bad, ["field count mismatch for Udp"]);
});

Deno.test("netstatCollector counts IPv6 and queued bytes, and does without IPv6 files", () =>
  withHost(async (root) => {
    await Deno.writeTextFile(
      `${root}proc/net/tcp6`,
      "  sl  local_address                         remote_address                        st tx_queue rx_queue\n" +
        "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D0C2 01 00000010:00000020 00:00000000 00000000     0        0 1 1\n" +
        "   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D0C4 06 00000000:00000000 00:00000000 00000000     0        0 0 3\n" +
        "   2: garbage\n",
    );
    await Deno.remove(`${root}proc/net/snmp6`);
    await Deno.remove(`${root}proc/net/sockstat6`);
    const { families, problems } = await collectNode([netstatCollector], pathsAt(root));
    assertEquals(
      samples(families, "node_tcp_connection_states").map((s) => [s.labels.state, s.value]),
      [
        ["listen", 2],
        ["established", 1],
        ["time_wait", 1],
        ["rx_queued_bytes", 0x20],
        ["tx_queued_bytes", 0x10],
      ],
    );
    assertEquals(value(families, "node_netstat_Ip6_InOctets"), undefined);
    assertEquals(value(families, "node_sockstat_TCP6_inuse"), undefined);
    // IPv6 turned off is not a problem.
    assertEquals([...problems], []);
  }));
