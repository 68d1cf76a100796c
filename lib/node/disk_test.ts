import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import { DISK_DEVICE_EXCLUDE, diskCollector } from "./disk.ts";
import { HOST, pathsAt, samples, value, withHost } from "./_testing.ts";

Deno.test("diskCollector reads /proc/diskstats with node_exporter's names and units", async () => {
  const { families, problems } = await collectNode([diskCollector], pathsAt(HOST));
  // vda's line: 153000 reads, 5395250 sectors read, 347075 ms reading, 17 values (Linux 5.5+).
  assertEquals(value(families, "node_disk_reads_completed_total", { device: "vda" }), 153000);
  assertEquals(value(families, "node_disk_read_bytes_total", { device: "vda" }), 5395250 * 512);
  assertEquals(value(families, "node_disk_read_time_seconds_total", { device: "vda" }), 347.075);
  assertEquals(value(families, "node_disk_discarded_sectors_total", { device: "vda" }), 247018320);
  assertEquals(value(families, "node_disk_flush_requests_total", { device: "vda" }), 50637);
  // Loop devices and zram are not disks.
  assertEquals(samples(families, "node_disk_io_now").map((s) => s.labels.device), ["vda"]);
  assertEquals(samples(families, "node_disk_info")[0]?.labels, {
    device: "vda",
    major: "254",
    minor: "0",
    path: "virtio-pci-0000:00:02.0",
    wwn: "",
    model: "",
    // ID_SERIAL, virtio's, when there is no SCSI or short serial.
    serial: "agent-ci-disk",
    revision: "",
    rotational: "1",
  });
  assertEquals(value(families, "node_disk_filesystem_info", { device: "vda", type: "ext4" }), 1);
  assertEquals([...problems], []);
});

Deno.test("DISK_DEVICE_EXCLUDE leaves out partitions, loop, RAM and zram devices", () => {
  for (const device of ["sda1", "vda2", "nvme0n1p1", "loop0", "ram0", "zram0", "fd0"]) {
    assertEquals(DISK_DEVICE_EXCLUDE.test(device), true, device);
  }
  for (const device of ["sda", "vda", "nvme0n1", "dm-0", "md0", "xvda", "sr0"]) {
    assertEquals(DISK_DEVICE_EXCLUDE.test(device), false, device);
  }
});

Deno.test("diskCollector reads an old kernel's 11 columns, odd whitespace, and warns on a short line", () =>
  withHost(async (root) => {
    await Deno.remove(`${root}sys/block/vda/queue/rotational`);
    await Deno.remove(`${root}run`, { recursive: true });
    await Deno.writeTextFile(
      `${root}proc/diskstats`,
      "\t 8  0 sda  10 0 80 5 20 0 160 7 0 12 12\n" +
        "   8 16 sdb 1 2 3\n" +
        "\n" +
        " 259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15   \n",
    );
    const { families, problems } = await collectNode([diskCollector], pathsAt(root));
    assertEquals(value(families, "node_disk_writes_completed_total", { device: "sda" }), 20);
    assertEquals(value(families, "node_disk_io_time_seconds_total", { device: "sda" }), 0.012);
    // No discard columns before Linux 4.18, no flush columns before 5.5.
    assertEquals(
      value(families, "node_disk_discards_completed_total", { device: "sda" }),
      undefined,
    );
    assertEquals(value(families, "node_disk_discards_completed_total", { device: "nvme0n1" }), 12);
    assertEquals(
      value(families, "node_disk_flush_requests_total", { device: "nvme0n1" }),
      undefined,
    );
    assertEquals(value(families, "node_disk_reads_completed_total", { device: "sdb" }), undefined);
    // No queue/rotational and no udev record: optional, the labels are empty and "0".
    assertEquals(samples(families, "node_disk_info").map((s) => s.labels.rotational), ["0", "0"]);
    assertEquals([...problems], [[`${root}proc/diskstats`, 'malformed line "8 16 sdb 1 2 3"']]);
  }));
