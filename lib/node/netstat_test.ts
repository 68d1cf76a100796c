import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import { createNetstatCollector, parsePairs } from "./netstat.ts";
import { openSockDiag, type TcpDump } from "./_sock_diag.ts";
import { HOST, pathsAt, samples, value, withHost } from "./_testing.ts";
import { pageSize } from "./_read.ts";

Deno.test("netstatCollector reads the default fields, sockets and TCP states", async () => {
  const { families, problems } = await collectNode(
    [createNetstatCollector({ sockDiag: null })],
    pathsAt(HOST),
  );
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
    const { families, problems } = await collectNode(
      [createNetstatCollector({ sockDiag: null })],
      pathsAt(root),
    );
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

Deno.test("netstatCollector asks sock_diag once it sees the host's listeners, as node_exporter", async () => {
  const dumps: string[] = [];
  // The captured tcp's two listeners (inodes 1269233 and 1076), and what sock_diag says.
  const sockDiag = (family: 2 | 10, onlyListeners = false): TcpDump => {
    dumps.push(`${family}${onlyListeners ? " listeners" : ""}`);
    return family === 10 ? { states: new Map(), rxQueued: 0, txQueued: 0, listeners: new Set() } : {
      states: onlyListeners ? new Map([[10, 2]]) : new Map([[10, 2], [1, 3], [6, 40]]),
      rxQueued: 7,
      txQueued: 8192,
      listeners: new Set([1269233, 1076]),
    };
  };
  const collector = createNetstatCollector({ sockDiag });
  const first = await collectNode([collector], pathsAt(HOST));
  // /proc/net/tcp first, then the listeners compared.
  assertEquals(dumps, ["2 listeners", "10 listeners"]);
  assertEquals(value(first.families, "node_tcp_connection_states", { state: "listen" }), 2);
  dumps.length = 0;
  const second = await collectNode([collector], pathsAt(HOST));
  assertEquals(dumps, ["2", "10"]);
  assertEquals(
    samples(second.families, "node_tcp_connection_states").map((s) => [s.labels.state, s.value]),
    [["listen", 2], ["established", 3], ["time_wait", 40], ["rx_queued_bytes", 7], [
      "tx_queued_bytes",
      8192,
    ]],
  );
});

Deno.test("netstatCollector keeps to /proc/net/tcp when sock_diag sees another namespace", async () => {
  const dumps: string[] = [];
  const sockDiag = (family: 2 | 10): TcpDump => {
    dumps.push(String(family));
    // A pod's own namespace: its own listener only.
    return { states: new Map([[10, 1]]), rxQueued: 0, txQueued: 0, listeners: new Set([99]) };
  };
  const collector = createNetstatCollector({ sockDiag });
  await collectNode([collector], pathsAt(HOST));
  await collectNode([collector], pathsAt(HOST));
  // Compared once; never asked for the states.
  assertEquals(dumps, ["2", "10"]);
});

Deno.test({
  name: "sock_diag sees the same listening sockets as /proc/net/tcp on this host",
  ignore: openSockDiag() === undefined,
  fn: () => {
    const dumper = openSockDiag()!;
    const fromProc = () =>
      new Set(
        Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)
          .map((line) => line.trim().split(/\s+/))
          .filter((fields) => fields[3] === "0A")
          .map((fields) => Number(fields[9])),
      );
    // Other tests open and close listeners meanwhile: equal at one of a few tries.
    let last = "";
    for (let attempt = 0; attempt < 5; attempt++) {
      const proc = [...fromProc()].sort();
      const diag = [...dumper(2, true).listeners].sort();
      if (JSON.stringify(proc) === JSON.stringify(diag)) return;
      last = `${proc} vs ${diag}`;
    }
    throw new Error(`listeners differ: ${last}`);
  },
});
