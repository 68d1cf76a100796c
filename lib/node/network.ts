/**
 * `network`: traffic per network device from `/proc/net/dev` (node_exporter's netdev
 * collector, its legacy names: `node_network_receive_errs_total`, `..._drop_total`,
 * `..._colls_total`) and each device's state from `/sys/class/net/DEV` (its netclass collector:
 * `node_network_up`, `_mtu_bytes`, `_speed_bytes`, `_carrier`, `node_network_info{...}` with
 * node_exporter 1.12's `adminstate`).
 *
 * The counters are read from `PROC/1/net/dev`, the network namespace of the host's init:
 * `PROC/net` is the reader's own (`self/net`), which in a pod without `hostNetwork` is the
 * pod's `eth0`; `/sys/class/net` already shows the host's devices (sysfs shows the namespace
 * that mounted it). `PROC/net/dev` serves where PID 1 is hidden.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { CollectContext, NodeCollector } from "./collector.ts";
import { Families, listDir, readTextNow, toNumber } from "./_read.ts";

const RECEIVE = ["bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"];
const TRANSMIT = ["bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"];

/** The numeric files of /sys/class/net/DEV node_exporter exports, with its metric names. */
const CLASS_FILES: readonly [file: string, name: string, type: "gauge" | "counter"][] = [
  ["addr_assign_type", "address_assign_type", "gauge"],
  ["carrier", "carrier", "gauge"],
  ["carrier_changes", "carrier_changes_total", "counter"],
  ["carrier_up_count", "carrier_up_changes_total", "counter"],
  ["carrier_down_count", "carrier_down_changes_total", "counter"],
  ["dev_id", "device_id", "gauge"],
  ["dormant", "dormant", "gauge"],
  ["flags", "flags", "gauge"],
  ["ifindex", "iface_id", "gauge"],
  ["iflink", "iface_link", "gauge"],
  ["link_mode", "iface_link_mode", "gauge"],
  ["mtu", "mtu_bytes", "gauge"],
  ["name_assign_type", "name_assign_type", "gauge"],
  ["netdev_group", "net_dev_group", "gauge"],
  ["speed", "speed_bytes", "gauge"],
  ["tx_queue_len", "transmit_queue_length", "gauge"],
  ["type", "protocol_type", "gauge"],
];

const TEXT_FILES = ["address", "broadcast", "duplex", "operstate", "ifalias"] as const;

/** A file of `/proc/net` in the host's network namespace: see the module's documentation. */
export function readHostNet(
  context: CollectContext,
  file: string,
  options: { optional?: boolean } = {},
): { path: string; text: string | undefined } {
  const own = `${context.paths.proc}/1/net/${file}`;
  const text = readTextNow(context, own, { optional: true });
  if (text !== undefined) return { path: own, text };
  const path = `${context.paths.proc}/net/${file}`;
  return { path, text: readTextNow(context, path, options) };
}

/** node_network_{receive,transmit}_*_total{device}, node_network_up, _info, _mtu_bytes, ... */
export const networkCollector: NodeCollector = {
  name: "network",
  description: "traffic and errors per network device (/proc/net/dev), link state (/sys)",
  capabilities: {
    reads: ["proc/1/net/dev", "sys/class/net"],
    optional: ["sys/class/net/*/speed", "sys/class/net/*/statistics/rx_nohandler"],
  },
  async collect(context) {
    const out = new Families();
    const { path, text } = readHostNet(context, "dev");
    const devices = new Map<string, number[]>();
    for (const line of text?.split("\n").slice(2) ?? []) {
      if (line.trim() === "") continue;
      const colon = line.lastIndexOf(":");
      const values = line.slice(colon + 1).trim().split(/\s+/).map(toNumber);
      if (colon < 0 || values.length !== 16 || values.some((v) => v === undefined)) {
        context.warn(path, `malformed line "${line.trim().slice(0, 80)}"`);
        continue;
      }
      devices.set(line.slice(0, colon).trim(), values as number[]);
    }
    for (const [device, values] of devices) {
      for (
        const [direction, names, offset] of [["receive", RECEIVE, 0], [
          "transmit",
          TRANSMIT,
          8,
        ]] as const
      ) {
        names.forEach((stat, index) => {
          out.add(
            `node_network_${direction}_${stat}_total`,
            `Network device statistic ${direction}_${stat}.`,
            "counter",
            values[offset + index]!,
            { device },
          );
        });
      }
      // node_exporter reads the counters by netlink, which has this one too.
      const nohandler = toNumber(
        sysfsValueNow(context, `${context.paths.sys}/class/net/${device}/statistics/rx_nohandler`),
      );
      if (nohandler !== undefined) {
        out.add(
          "node_network_receive_nohandler_total",
          "Network device statistic receive_nohandler.",
          "counter",
          nohandler,
          { device },
        );
      }
    }
    const classRead = await netClass(context, out);
    if (text === undefined && !classRead) {
      throw new Error(`cannot read ${path} nor ${context.paths.sys}/class/net`);
    }
    return out.list();
  },
};

/** The devices of /sys/class/net; whether there were any. */
async function netClass(context: CollectContext, out: Families): Promise<boolean> {
  const root = `${context.paths.sys}/class/net`;
  // Devices are symbolic links (or directories in a copy); `bonding_masters` is a file.
  const entries = (await listDir(root)).filter((e) => !e.isFile);
  for (const entry of entries) {
    const device = entry.name;
    const dir = `${root}/${device}`;
    const values = new Map<string, string>();
    await Promise.all(
      [...TEXT_FILES, ...CLASS_FILES.map(([file]) => file)].map(async (file) => {
        const path = `${dir}/${file}`;
        const value = DRIVER_FILES.has(file)
          ? await sysfsValue(context, path)
          : sysfsValueNow(context, path);
        if (value !== undefined) values.set(file, value);
      }),
    );
    const operstate = values.get("operstate") ?? "";
    out.add(
      "node_network_up",
      "Value is 1 if operstate is 'up', 0 otherwise.",
      "gauge",
      operstate === "up" ? 1 : 0,
      { device },
    );
    const flags = sysfsNumber(values.get("flags"));
    out.add(
      "node_network_info",
      "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
      "gauge",
      1,
      {
        device,
        address: values.get("address") ?? "",
        broadcast: values.get("broadcast") ?? "",
        duplex: values.get("duplex") ?? "",
        operstate,
        adminstate: flags === undefined ? "unknown" : (flags & 1) === 1 ? "up" : "down",
        ifalias: values.get("ifalias") ?? "",
      },
    );
    for (const [file, name, type] of CLASS_FILES) {
      let value = sysfsNumber(values.get(file));
      if (value === undefined) continue;
      // Mbit/s to bytes/s; -1 (unknown) becomes -125000, as node_exporter exports it.
      if (file === "speed") value = Math.trunc((value * 1000 * 1000) / 8);
      out.add(`node_network_${name}`, `Network device property: ${name}`, type, value, { device });
    }
  }
  return entries.length > 0;
}

/** An integer as sysfs writes it: decimal, or hexadecimal with `0x` (`flags`). */
function sysfsNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^(-?\d+|0x[0-9a-f]+)$/i.test(text)) return undefined;
  return Number(text);
}

/**
 * Attributes the driver answers under the RTNL lock (ethtool's link settings), which another
 * netlink user may hold a while: read off the event loop. The others are the kernel's own
 * fields, read in place (see `readTextNow`).
 */
const DRIVER_FILES = new Set(["speed", "duplex"]);

/**
 * A sysfs attribute, trimmed; `undefined` where the device does not have it: missing, or
 * refused with EINVAL or EOPNOTSUPP (`speed` and `duplex` of a device that is down, `carrier`
 * of one administratively down), as procfs skips them. Other errors are warned.
 */
async function sysfsValue(context: CollectContext, path: string): Promise<string | undefined> {
  try {
    return new TextDecoder().decode(await Deno.readFile(path)).trim();
  } catch (error) {
    return sysfsError(context, path, error);
  }
}

/** {@linkcode sysfsValue}, read in place. */
function sysfsValueNow(context: CollectContext, path: string): string | undefined {
  try {
    return new TextDecoder().decode(Deno.readFileSync(path)).trim();
  } catch (error) {
    return sysfsError(context, path, error);
  }
}

function sysfsError(context: CollectContext, path: string, error: unknown): undefined {
  if (
    error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotSupported ||
    /invalid argument|not supported|os error (22|95)\)/i.test(errorMessage(error))
  ) {
    return undefined;
  }
  context.warn(path, errorMessage(error));
  return undefined;
}
