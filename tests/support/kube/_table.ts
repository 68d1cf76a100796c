/**
 * Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for when it prints
 * (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).
 *
 * @module
 */
import type { Json } from "./_match.ts";
import { jsonPath } from "./_crd.ts";
import type { ResourceType } from "./resources.ts";

interface Column {
  name: string;
  type: string;
  format?: string;
  cell(object: Json, now: number): unknown;
}

/** Kubernetes' short ages: 45s, 5m, 3h, 2d. */
export function age(timestamp: unknown, now: number): string {
  const then = typeof timestamp === "string" ? Date.parse(timestamp) : NaN;
  if (Number.isNaN(then)) return "<unknown>";
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

const NAME: Column = {
  name: "Name",
  type: "string",
  format: "name",
  cell: (o) => (o.metadata as Json | undefined)?.name,
};
const AGE: Column = {
  name: "Age",
  type: "string",
  cell: (o, now) => age((o.metadata as Json | undefined)?.creationTimestamp, now),
};

function containerStatuses(pod: Json): Json[] {
  return ((pod.status as Json | undefined)?.containerStatuses as Json[] | undefined) ?? [];
}

const POD_COLUMNS: Column[] = [
  NAME,
  {
    name: "Ready",
    type: "string",
    cell: (pod) => {
      const statuses = containerStatuses(pod);
      const total = ((pod.spec as Json | undefined)?.containers as unknown[] | undefined)?.length ??
        statuses.length;
      return `${statuses.filter((s) => s.ready === true).length}/${total}`;
    },
  },
  {
    name: "Status",
    type: "string",
    cell: (pod) => {
      if ((pod.metadata as Json | undefined)?.deletionTimestamp) return "Terminating";
      for (const s of containerStatuses(pod)) {
        const waiting = (s.state as Json | undefined)?.waiting as Json | undefined;
        if (waiting?.reason) return waiting.reason;
        const terminated = (s.state as Json | undefined)?.terminated as Json | undefined;
        if (terminated?.reason) return terminated.reason;
      }
      return (pod.status as Json | undefined)?.phase ?? "Pending";
    },
  },
  {
    name: "Restarts",
    type: "integer",
    cell: (pod) => containerStatuses(pod).reduce((sum, s) => sum + Number(s.restartCount ?? 0), 0),
  },
  AGE,
];

const LEASE_COLUMNS: Column[] = [
  NAME,
  {
    name: "Holder",
    type: "string",
    cell: (lease) => (lease.spec as Json | undefined)?.holderIdentity ?? "",
  },
  AGE,
];

function columnsFor(type: ResourceType): Column[] {
  if (type.printerColumns?.length) {
    // A custom resource's columns; `date` columns print as ages, as kubectl does.
    return [
      NAME,
      ...type.printerColumns.map((c): Column => ({
        name: String(c.name),
        type: c.type === "date" ? "date" : String(c.type ?? "string"),
        cell: (o, now) => {
          const value = jsonPath(o, String(c.jsonPath));
          if (value === undefined) return "";
          return c.type === "date" ? age(value, now) : value;
        },
      })),
    ];
  }
  if (type.kind === "Pod") return POD_COLUMNS;
  if (type.kind === "Lease") return LEASE_COLUMNS;
  return [NAME, AGE];
}

/** Renders objects as a Table; `includeObject` is kubectl's query parameter. */
export function toTable(
  type: ResourceType,
  objects: Json[],
  resourceVersion: string,
  includeObject: string | null,
  now = Date.now(),
): Json {
  const columns = columnsFor(type);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? "",
      description: c.name,
      priority: 0,
    })),
    rows: objects.map((object) => ({
      cells: columns.map((c) => c.cell(object, now)),
      object: includeObject === "Object" ? object : {
        kind: "PartialObjectMetadata",
        apiVersion: "meta.k8s.io/v1",
        metadata: object.metadata,
      },
    })),
  };
}
