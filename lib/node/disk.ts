/**
 * `disk`: I/O per block device from `/proc/diskstats` (node_exporter's diskstats collector,
 * its names and units: sectors of 512 bytes become bytes, milliseconds become seconds), with
 * `node_disk_info` from udev's database and `/sys/block/DEV/queue/rotational` (node_exporter
 * 1.12's `rotational` label). Partitions, loop and RAM devices are left out by node_exporter's
 * default `--collector.diskstats.device-exclude`.
 *
 * @module
 */
import type { CollectContext, NodeCollector } from "./collector.ts";
import { Families, readText, readTextNow, toNumber } from "./_read.ts";

/**
 * node_exporter's (1.12) default device exclusion: partitions (`sda1`, `nvme0n1p1`), loop,
 * RAM and zram devices and floppies. Debian's 1.5.0 package lacks the `z?` (it reports zram).
 */
export const DISK_DEVICE_EXCLUDE = /^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$/;

const SECTOR_BYTES = 512;
const MS = 1 / 1000;

/** The diskstats columns after the device name, in order: metric, help, type, scale. */
const COLUMNS: readonly [string, string, "counter" | "gauge", number][] = [
  ["reads_completed_total", "The total number of reads completed successfully.", "counter", 1],
  ["reads_merged_total", "The total number of reads merged.", "counter", 1],
  ["read_bytes_total", "The total number of bytes read successfully.", "counter", SECTOR_BYTES],
  ["read_time_seconds_total", "The total number of seconds spent by all reads.", "counter", MS],
  ["writes_completed_total", "The total number of writes completed successfully.", "counter", 1],
  ["writes_merged_total", "The number of writes merged.", "counter", 1],
  [
    "written_bytes_total",
    "The total number of bytes written successfully.",
    "counter",
    SECTOR_BYTES,
  ],
  [
    "write_time_seconds_total",
    "This is the total number of seconds spent by all writes.",
    "counter",
    MS,
  ],
  ["io_now", "The number of I/Os currently in progress.", "gauge", 1],
  ["io_time_seconds_total", "Total seconds spent doing I/Os.", "counter", MS],
  [
    "io_time_weighted_seconds_total",
    "The weighted # of seconds spent doing I/Os.",
    "counter",
    MS,
  ],
  // Linux 4.18 and later.
  [
    "discards_completed_total",
    "The total number of discards completed successfully.",
    "counter",
    1,
  ],
  ["discards_merged_total", "The total number of discards merged.", "counter", 1],
  // Sectors, not bytes: node_exporter's name and unit.
  ["discarded_sectors_total", "The total number of sectors discarded successfully.", "counter", 1],
  [
    "discard_time_seconds_total",
    "This is the total number of seconds spent by all discards.",
    "counter",
    MS,
  ],
  // Linux 5.5 and later.
  [
    "flush_requests_total",
    "The total number of flush requests completed successfully",
    "counter",
    1,
  ],
  [
    "flush_requests_time_seconds_total",
    "This is the total number of seconds spent by all flush requests.",
    "counter",
    MS,
  ],
];

/** node_disk_*{device}, node_disk_info. */
export const diskCollector: NodeCollector = {
  name: "disk",
  description: "I/O per block device: operations, bytes, time, queue (/proc/diskstats)",
  capabilities: {
    reads: ["proc/diskstats", "sys/block/*/queue/rotational", "rootfs/run/udev/data"],
    optional: ["sys/block/*/queue/rotational", "rootfs/run/udev/data"],
  },
  async collect(context) {
    const path = `${context.paths.proc}/diskstats`;
    const text = readTextNow(context, path);
    if (text === undefined) throw new Error(`cannot read ${path}`);
    const out = new Families();
    for (const line of text.split("\n")) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 3) continue;
      const [major, minor, device] = fields as [string, string, string];
      if (DISK_DEVICE_EXCLUDE.test(device)) continue;
      const values = fields.slice(3).map(toNumber);
      if (values.length < 11 || values.some((v) => v === undefined)) {
        context.warn(path, `malformed line "${line.trim().slice(0, 80)}"`);
        continue;
      }
      await info(context, out, { device, major, minor });
      COLUMNS.forEach(([name, help, type, scale], index) => {
        const value = values[index];
        if (value !== undefined) {
          out.add(`node_disk_${name}`, help, type, value * scale, { device });
        }
      });
    }
    return out.list();
  },
};

async function info(
  context: CollectContext,
  out: Families,
  disk: { device: string; major: string; minor: string },
): Promise<void> {
  // udev's record of the device (`E:KEY=VALUE` lines), where the host runs udev.
  const udev = new Map<string, string>();
  const record = await readText(
    context,
    `${context.paths.rootfs.replace(/\/$/, "")}/run/udev/data/b${disk.major}:${disk.minor}`,
    { optional: true },
  );
  for (const line of record?.split("\n") ?? []) {
    const match = /^E:([^=]+)=(.*)$/.exec(line);
    if (match) udev.set(match[1]!, match[2]!);
  }
  // /sys/block names a device with a slash in its name (cciss/c0d0) with a "!".
  const rotational = readTextNow(
    context,
    `${context.paths.sys}/block/${disk.device.replaceAll("/", "!")}/queue/rotational`,
    { optional: true },
  );
  out.add("node_disk_info", "Info of /sys/block/<block_device>.", "gauge", 1, {
    device: disk.device,
    major: disk.major,
    minor: disk.minor,
    path: udev.get("ID_PATH") ?? "",
    wwn: udev.get("ID_WWN") ?? "",
    model: udev.get("ID_MODEL") ?? "",
    // The serial on the label, else the short one, else virtio's: node_exporter's order.
    serial: udev.get("SCSI_IDENT_SERIAL") || udev.get("ID_SERIAL_SHORT") || udev.get("ID_SERIAL") ||
      "",
    revision: udev.get("ID_REVISION") ?? "",
    // As node_exporter: "0" when the kernel does not say.
    rotational: rotational?.trim() === "1" ? "1" : "0",
  });
  const device = disk.device;
  const fsType = udev.get("ID_FS_TYPE");
  if (fsType) {
    out.add("node_disk_filesystem_info", "Info about disk filesystem.", "gauge", 1, {
      device,
      type: fsType,
      usage: udev.get("ID_FS_USAGE") ?? "",
      uuid: udev.get("ID_FS_UUID") ?? "",
      version: udev.get("ID_FS_VERSION") ?? "",
    });
  }
  const dmName = udev.get("DM_NAME");
  if (dmName) {
    out.add("node_disk_device_mapper_info", "Info about disk device mapper.", "gauge", 1, {
      device,
      name: dmName,
      uuid: udev.get("DM_UUID") ?? "",
      vg_name: udev.get("DM_VG_NAME") ?? "",
      lv_name: udev.get("DM_LV_NAME") ?? "",
      lv_layer: udev.get("DM_LV_LAYER") ?? "",
    });
  }
  if (udev.get("ID_ATA")) {
    for (const [key, name, help] of ATA) {
      const value = toNumber(udev.get(key));
      if (value !== undefined) out.add(`node_disk_${name}`, help, "gauge", value, { device });
    }
  }
}

/** The ATA properties of udev's record node_exporter exports. */
const ATA = [
  ["ID_ATA_WRITE_CACHE", "ata_write_cache", "ATA disk has a write cache."],
  [
    "ID_ATA_WRITE_CACHE_ENABLED",
    "ata_write_cache_enabled",
    "ATA disk has its write cache enabled.",
  ],
  [
    "ID_ATA_ROTATION_RATE_RPM",
    "ata_rotation_rate_rpm",
    "ATA disk rotation rate in RPMs (0 for SSDs).",
  ],
] as const;
