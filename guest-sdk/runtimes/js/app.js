// Retort's shared JavaScript runtime: runs the JavaScript migration the host hands it.
//
// Built once per machine by `retort build` with componentize-js (the `schema-script-runtime` world of
// retort:migration@0.3.0); every JavaScript migration of a project is a small script artifact
// naming this runtime by digest. Each migration runs in a fresh instance: on its first call
// the runtime reads the migration (`script.current()`) and evaluates `migration.js` with
// `./retort_guest.js` as its one import, then serves the `metadata`, `upgrade` and `downgrade`
// it exports, exactly as a migration built on its own would.
//
// A migration is one ES module whose imports all come from "./retort_guest.js" (named,
// renamed or as a namespace) and whose exports are `export const|let|var|function|class`
// declarations: the runtime evaluates it as a function body, since a component cannot load
// modules at run time.
import { current } from "retort:migration/script@0.2.0";
import * as guest from "./retort_guest.js";

let served;

const IMPORT = /^\s*import\s+([^;]*?)\s+from\s+(["'])([^"']+)\2\s*;?/gm;
const EXPORT = /^(\s*)export\s+(const|let|var|function\*?|async\s+function|class)\b/gm;

function body(source, shown) {
  const exported = [];
  let text = source.replace(IMPORT, (_, what, _q, from) => {
    if (from !== "./retort_guest.js" && from !== "retort_guest.js" && from !== "retort_guest") {
      throw new Error(`${shown}: imports ${from}; a migration may import only ./retort_guest.js`);
    }
    const star = /^\*\s+as\s+([\w$]+)$/.exec(what.trim());
    if (star) return `const ${star[1]} = __retort_guest;`;
    const named = /^\{([^}]*)\}$/.exec(what.trim());
    if (!named) throw new Error(`${shown}: cannot read the import \`${what}\``);
    const names = named[1].split(",").map((s) => s.trim()).filter(Boolean)
      .map((s) => s.replace(/^([\w$]+)\s+as\s+([\w$]+)$/, "$1: $2"));
    return `const { ${names.join(", ")} } = __retort_guest;`;
  });
  text = text.replace(EXPORT, (_, indent, kind) => `${indent}${kind}`);
  if (/^\s*export\b/m.test(text)) {
    throw new Error(`${shown}: only \`export const|let|var|function|class\` declarations are supported`);
  }
  for (const name of ["metadata", "upgrade", "downgrade"]) exported.push(name);
  return `${text}\n;return { ${exported.map((n) => `${n}: typeof ${n} === "undefined" ? undefined : ${n}`).join(", ")} };`;
}

function migration() {
  if (!served) {
    const m = current();
    const file = m.files.find((f) => f.name === "migration.js");
    if (!file) throw new Error("the script artifact has no migration.js");
    const shown = (m.settings.find(([k]) => k === "source") ?? [])[1] ?? "migration.js";
    const made = new Function("__retort_guest", `${body(file.contents, shown)}\n//# sourceURL=${shown}`)(guest);
    for (const name of ["metadata", "upgrade", "downgrade"]) {
      if (typeof made[name] !== "function") {
        throw new Error(`${shown} does not export ${name}: end it with \`export const { metadata, upgrade, downgrade } = defineMigration({...})\``);
      }
    }
    served = made;
  }
  return served;
}

export function metadata() {
  return migration().metadata();
}

export function upgrade(tx) {
  return migration().upgrade(tx);
}

export function downgrade(tx) {
  return migration().downgrade(tx);
}
