/**
 * Label and field selectors, and the patch formats the emulator accepts, as the API
 * server defines them.
 *
 * @module
 */

/** A JSON object. */
export type Json = Record<string, unknown>;

interface Requirement {
  key: string;
  op: "=" | "!=" | "in" | "notin" | "exists" | "!exists";
  values: string[];
}

/** An invalid selector or patch: the emulator answers 400 with this message. */
export class BadRequest extends Error {}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const c of text) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  if (current.trim()) parts.push(current);
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** Parses a label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`. */
export function parseLabelSelector(text: string): Requirement[] {
  return splitTopLevel(text).map((part) => {
    let m = /^!\s*([\w./-]+)$/.exec(part);
    if (m) return { key: m[1]!, op: "!exists", values: [] };
    m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    if (m) {
      return {
        key: m[1]!,
        op: m[2] as "in" | "notin",
        values: m[3]!.split(",").map((v) => v.trim()),
      };
    }
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(part);
    if (m) return { key: m[1]!, op: m[2] === "!=" ? "!=" : "=", values: [m[3]!] };
    m = /^([\w./-]+)$/.exec(part);
    if (m) return { key: m[1]!, op: "exists", values: [] };
    throw new BadRequest(`unable to parse requirement: ${JSON.stringify(part)}`);
  });
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabels(
  requirements: Requirement[],
  labels: Record<string, string> = {},
): boolean {
  return requirements.every(({ key, op, values }) => {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (op) {
      case "=":
        return has && value === values[0];
      case "!=":
        return !has || value !== values[0];
      case "in":
        return has && values.includes(value!);
      case "notin":
        return !has || !values.includes(value!);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}

interface FieldRequirement {
  path: string[];
  equal: boolean;
  value: string;
}

/** Parses a field selector: `metadata.name=x,spec.nodeName!=y`. */
export function parseFieldSelector(text: string): FieldRequirement[] {
  return splitTopLevel(text).map((part) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw new BadRequest(`invalid field selector: ${JSON.stringify(part)}`);
    return { path: m[1]!.split("."), equal: m[2] !== "!=", value: m[3]! };
  });
}

/** Whether `object` satisfies every field requirement (a missing field is ""). */
export function matchesFields(requirements: FieldRequirement[], object: Json): boolean {
  return requirements.every(({ path, equal, value }) => {
    let node: unknown = object;
    for (const key of path) {
      node = node && typeof node === "object" ? (node as Json)[key] : undefined;
    }
    const actual = node === undefined || node === null ? "" : String(node);
    return (actual === value) === equal;
  });
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON merge patch (RFC 7386); strategic merge patches are applied the same way. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Json = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new BadRequest(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path.slice(1).split("/").map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** JSON patch (RFC 6902): add, remove, replace, test, move, copy. */
export function jsonPatch(target: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw new BadRequest("a JSON patch must be a list of operations");
  const doc = structuredClone(target);
  const parentOf = (parts: string[]): [Json | unknown[], string] => {
    let node: unknown = doc;
    for (const part of parts.slice(0, -1)) {
      node = Array.isArray(node) ? node[Number(part)] : isObject(node) ? node[part] : undefined;
      if (node === undefined) throw new BadRequest(`path not found: /${parts.join("/")}`);
    }
    return [node as Json | unknown[], parts.at(-1)!];
  };
  const read = (path: string): unknown => {
    let node: unknown = doc;
    for (const part of pointer(path)) {
      node = Array.isArray(node) ? node[Number(part)] : (node as Json)?.[part];
    }
    return node;
  };
  const write = (path: string, value: unknown, insert: boolean) => {
    const [parent, key] = parentOf(pointer(path));
    if (Array.isArray(parent)) {
      const index = key === "-" ? parent.length : Number(key);
      parent.splice(index, insert ? 0 : 1, value);
    } else {
      parent[key] = value;
    }
  };
  const remove = (path: string) => {
    const [parent, key] = parentOf(pointer(path));
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else if (Object.hasOwn(parent, key)) delete parent[key];
    else throw new BadRequest(`path not found: ${path}`);
  };
  for (const op of operations as Json[]) {
    const path = String(op.path ?? "");
    switch (op.op) {
      case "add":
        write(path, structuredClone(op.value), true);
        break;
      case "replace":
        write(path, structuredClone(op.value), false);
        break;
      case "remove":
        remove(path);
        break;
      case "test":
        if (JSON.stringify(read(path)) !== JSON.stringify(op.value)) {
          throw new BadRequest(`test failed at ${path}`);
        }
        break;
      case "move":
      case "copy": {
        const value = structuredClone(read(String(op.from)));
        if (op.op === "move") remove(String(op.from));
        write(path, value, true);
        break;
      }
      default:
        throw new BadRequest(`unknown JSON patch operation ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}
