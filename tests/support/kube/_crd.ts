/**
 * Custom resources for the emulator: the kinds a stored CustomResourceDefinition serves, and
 * what the API server does with their objects: validation against the version's
 * `openAPIV3Schema` (the structural subset: types, properties, required, minimum, maximum,
 * length, pattern, enum, items, additionalProperties), pruning of unknown fields, defaults,
 * and the printer columns `kubectl get` shows.
 *
 * @module
 */
import type { Json } from "./_match.ts";
import { ApiError, meta } from "./_http.ts";
import type { ResourceType } from "./resources.ts";

/** One field that failed validation, as a `Status` cause. */
export interface Cause {
  field: string;
  message: string;
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The resource types a CRD serves (one per served version). */
export function typesOfCrd(crd: Json): ResourceType[] {
  const spec = crd.spec as Json | undefined;
  const names = (spec?.names ?? {}) as Json;
  if (!spec || typeof spec.group !== "string" || typeof names.plural !== "string") return [];
  return ((spec.versions as Json[] | undefined) ?? []).filter((v) => v.served !== false).map((
    version,
  ) => ({
    group: spec.group as string,
    version: String(version.name),
    kind: String(names.kind),
    plural: names.plural as string,
    singular: String(names.singular ?? String(names.kind).toLowerCase()),
    namespaced: spec.scope !== "Cluster",
    ...(Array.isArray(names.shortNames) ? { shortNames: names.shortNames as string[] } : {}),
    subresources: isObject((version.subresources as Json | undefined)?.status) ? ["status"] : [],
    schema: ((version.schema as Json | undefined)?.openAPIV3Schema as Json | undefined) ?? {},
    printerColumns: (version.additionalPrinterColumns as Json[] | undefined) ?? [],
  }));
}

/** What a CRD's status says once the emulator serves it. */
export function establishedStatus(crd: Json): Json {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const condition = (type: string, reason: string) => ({
    type,
    status: "True",
    reason,
    message: "",
    lastTransitionTime: now,
  });
  return {
    conditions: [
      condition("NamesAccepted", "NoConflicts"),
      condition("Established", "InitialNamesAccepted"),
    ],
    acceptedNames: (crd.spec as Json).names,
    storedVersions: ((crd.spec as Json).versions as Json[]).filter((v) => v.storage).map((v) =>
      v.name
    ),
  };
}

/**
 * Validates `value` at `path` against `schema`, pruning unknown fields and applying defaults
 * in place; returns the failures, in the API server's words.
 */
export function validate(
  schema: Json,
  value: unknown,
  path: string,
  causes: Cause[] = [],
): Cause[] {
  const fail = (message: string) =>
    causes.push({ field: path, message: `Invalid value: ${JSON.stringify(value)}: ${message}` });
  const body = `${path} in body`;
  const wrongType = (expected: string) =>
    causes.push({
      field: path,
      message: `Invalid value: "${typeOf(value)}": ${body} must be of type ${expected}: "${
        typeOf(value)
      }"`,
    });
  const type = schema.type;
  if (type === "object") {
    if (!isObject(value)) {
      wrongType("object");
      return causes;
    }
    const properties = (schema.properties ?? {}) as Record<string, Json>;
    for (const [name, sub] of Object.entries(properties)) {
      if (value[name] === undefined && sub.default !== undefined) {
        value[name] = structuredClone(sub.default);
      }
    }
    for (const name of (schema.required as string[] | undefined) ?? []) {
      if (value[name] === undefined) {
        causes.push({ field: `${path}.${name}`, message: "Required value" });
      }
    }
    const extra = schema.additionalProperties;
    for (const name of Object.keys(value)) {
      const sub = properties[name];
      if (sub) validate(sub, value[name], `${path}.${name}`, causes);
      else if (isObject(extra)) validate(extra, value[name], `${path}.${name}`, causes);
      else if (schema["x-kubernetes-preserve-unknown-fields"] !== true && extra !== true) {
        delete value[name];
      }
    }
    return causes;
  }
  if (type === "array") {
    if (!Array.isArray(value)) {
      wrongType("array");
      return causes;
    }
    value.forEach((item, i) =>
      validate((schema.items ?? {}) as Json, item, `${path}[${i}]`, causes)
    );
    return causes;
  }
  if (type === "string") {
    if (typeof value !== "string") {
      wrongType("string");
      return causes;
    }
    if (typeof schema.maxLength === "number" && value.length > schema.maxLength) {
      causes.push({
        field: path,
        message: `Too long: may not be more than ${schema.maxLength} bytes`,
      });
    }
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern).test(value)) {
      fail(`${body} should match '${schema.pattern}'`);
    }
  } else if (type === "integer" || type === "number") {
    if (typeof value !== "number" || (type === "integer" && !Number.isInteger(value))) {
      wrongType(String(type));
      return causes;
    }
    if (typeof schema.minimum === "number" && value < schema.minimum) {
      fail(`${body} should be greater than or equal to ${schema.minimum}`);
    }
    if (typeof schema.maximum === "number" && value > schema.maximum) {
      fail(`${body} should be less than or equal to ${schema.maximum}`);
    }
  } else if (type === "boolean" && typeof value !== "boolean") {
    wrongType("boolean");
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    causes.push({
      field: path,
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${
        schema.enum.map((v) => JSON.stringify(v)).join(", ")
      }`,
    });
  }
  return causes;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/**
 * Evaluates the JSONPath of a printer column: dotted fields and one filter like
 * `.status.conditions[?(@.type=="Available")].status`.
 */
export function jsonPath(object: Json, path: string): unknown {
  let nodes: unknown[] = [object];
  for (const step of path.replace(/^\./, "").match(/[^.[\]]+|\[\?\(@\.[^)]+\)\]/g) ?? []) {
    const filter = /^\[\?\(@\.(\w+)=="([^"]*)"\)\]$/.exec(step);
    nodes = nodes.flatMap((node) => {
      if (filter) {
        return Array.isArray(node)
          ? node.filter((n) => isObject(n) && n[filter[1]!] === filter[2])
          : [];
      }
      return isObject(node) && node[step] !== undefined ? [node[step]] : [];
    });
  }
  return nodes[0];
}

/** Whether `type` is the CustomResourceDefinition kind itself. */
export function isCrd(type: ResourceType): boolean {
  return type.kind === "CustomResourceDefinition" && type.group === "apiextensions.k8s.io";
}

/** Marks `crd` established and returns the kinds served with its own (re)placed. */
export function serveCrd(types: ResourceType[], crd: Json): ResourceType[] {
  crd.status = establishedStatus(crd);
  const served = typesOfCrd(crd);
  return [
    ...types.filter((t) => !served.some((n) => n.group === t.group && n.plural === t.plural)),
    ...served,
  ];
}

/** The kinds served once `crd` is deleted; its objects are deleted from `objects` too. */
export function dropCrd(
  types: ResourceType[],
  objects: Map<string, { resource: ResourceType }>,
  crd: Json,
): ResourceType[] {
  const gone = typesOfCrd(crd);
  const isGone = (t: ResourceType) =>
    gone.some((g) => g.group === t.group && g.plural === t.plural);
  for (const [key, entry] of [...objects]) if (isGone(entry.resource)) objects.delete(key);
  return types.filter((t) => !isGone(t));
}

/**
 * What the API server does to a custom resource before storing it: prune, default and
 * validate its spec and status against its schema; 422 Invalid with the causes when it fails.
 */
export function admit(resource: ResourceType, object: Json): void {
  if (!resource.schema) return;
  const causes: Cause[] = [];
  for (const part of ["spec", "status"]) {
    const schema = (resource.schema.properties as Record<string, Json> | undefined)?.[part];
    if (schema && object[part] !== undefined) validate(schema, object[part], part, causes);
  }
  if (causes.length === 0) return;
  const name = String(meta(object).name ?? "");
  throw new ApiError(
    422,
    "Invalid",
    `${resource.kind}.${resource.group} ${JSON.stringify(name)} is invalid: ${
      causes.map((c) => `${c.field}: ${c.message}`).join(", ")
    }`,
    {
      name,
      group: resource.group,
      kind: resource.kind,
      causes: causes.map((c) => ({ reason: "FieldValueInvalid", ...c })),
    },
  );
}
