/**
 * Maps kinds and plurals to API paths through the real server's discovery, read once and again
 * when a name is not found (a CustomResourceDefinition may have been added since).
 *
 * @module
 */

type Json = Record<string, unknown>;

interface Served {
  groupVersion: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  status: boolean;
}

/** Where a kind lives: its collection in a namespace (or cluster-wide), whether it has status. */
export interface KindPath {
  collection: string;
  status: boolean;
}

/** Discovery of the real server, for the harness. */
export class KindResolver {
  #served: Promise<Served[]> | undefined;

  constructor(private readonly get: (path: string) => Promise<Json>) {}

  async #discover(): Promise<Served[]> {
    const versions: string[] = ["v1"];
    const groups = await this.get("/apis") as { groups?: Json[] };
    for (const group of groups.groups ?? []) {
      const preferred = (group.preferredVersion as Json | undefined)?.groupVersion;
      if (typeof preferred === "string") versions.push(preferred);
    }
    const served: Served[] = [];
    for (const groupVersion of versions) {
      const base = groupVersion === "v1" ? "/api/v1" : `/apis/${groupVersion}`;
      const list = await this.get(base) as { resources?: Json[] };
      const names = new Set((list.resources ?? []).map((r) => String(r.name)));
      for (const resource of list.resources ?? []) {
        const name = String(resource.name);
        if (name.includes("/")) continue;
        served.push({
          groupVersion,
          plural: name,
          kind: String(resource.kind),
          namespaced: resource.namespaced === true,
          status: names.has(`${name}/status`),
        });
      }
    }
    return served;
  }

  async #find(test: (s: Served) => boolean, what: string): Promise<Served> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.#served || attempt > 0) this.#served = this.#discover();
      const found = (await this.#served).find(test);
      if (found) return found;
    }
    throw new Error(`the API server does not serve ${what}`);
  }

  #path(served: Served, namespace: string | undefined): KindPath {
    const base = served.groupVersion === "v1" ? "/api/v1" : `/apis/${served.groupVersion}`;
    const scope = served.namespaced && namespace ? `/namespaces/${namespace}` : "";
    return { collection: `${base}${scope}/${served.plural}`, status: served.status };
  }

  /** The path of `apiVersion` `kind` (in `namespace`, default `default`, when namespaced). */
  async path(apiVersion: string, kind: string, namespace?: string): Promise<KindPath> {
    const served = await this.#find(
      (s) => s.kind === kind && (s.groupVersion === apiVersion),
      `${apiVersion} ${kind}`,
    );
    return this.#path(served, served.namespaced ? namespace ?? "default" : undefined);
  }

  /**
   * The path of a plural (the core group first), in `namespace` or across all namespaces.
   */
  async pathOfPlural(plural: string, namespace?: string): Promise<KindPath> {
    const served = await this.#find((s) => s.plural === plural, plural);
    return this.#path(served, namespace);
  }
}
