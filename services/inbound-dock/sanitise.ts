/**
 * Text repairs for feeds a strict XML parser rejects. Each returns the repaired text and says
 * what it changed, so a recovered feed can be told apart from a clean one in logs and reports.
 *
 * Security: `stripDeclarations` runs on every document, not only broken ones. The parser
 * (sax via xml2js) does not fetch external entities, but stripping every DOCTYPE and ENTITY
 * declaration first means no document can define an entity at all: XXE (`SYSTEM "file:///..."`)
 * and entity expansion ("billion laughs") have nothing left to act on. References to the removed
 * entities then fall to `escapeEntities` and appear as literal text.
 */

import { HTML_ENTITIES } from "./entities.ts";

export interface Repaired {
  text: string;
  repairs: string[];
}

/**
 * End (exclusive) of a markup declaration starting at `from` (`<!DOCTYPE`, `<!ENTITY`): the
 * first `>` outside quotes and outside an internal subset `[...]`; the text's length when there
 * is none. One pass, no regular expression: a hostile body must not make this quadratic.
 */
function declarationEnd(text: string, from: number): number {
  let quote: string | undefined;
  let depth = 0;
  for (let i = from + 2; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "[") depth += 1;
    else if (ch === "]") depth = Math.max(0, depth - 1);
    else if (ch === ">" && depth === 0) return i + 1;
  }
  return text.length;
}

/** Removes DOCTYPE (with any internal subset) and stray ENTITY declarations. */
export function stripDeclarations(text: string): Repaired {
  const lower = text.toLowerCase();
  const parts: string[] = [];
  let at = 0;
  for (;;) {
    const doctype = lower.indexOf("<!doctype", at);
    const entity = lower.indexOf("<!entity", at);
    const next = doctype < 0 ? entity : entity < 0 ? doctype : Math.min(doctype, entity);
    if (next < 0) break;
    parts.push(text.slice(at, next));
    at = declarationEnd(text, next);
  }
  if (parts.length === 0) return { text, repairs: [] };
  parts.push(text.slice(at));
  return { text: parts.join(""), repairs: ["doctype-stripped"] };
}

// Characters XML 1.0 forbids: C0 controls except tab/newline/return, lone surrogates, U+FFFE/F.
const INVALID_XML_CHARS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const XML_ENTITIES = new Set(["amp", "lt", "gt", "quot", "apos"]);

/**
 * Splits into [markup-or-text, protected, markup-or-text, protected, ...]: odd indexes are CDATA
 * sections and comments, where `&` and `<` are literal. An unterminated one runs to the end. A
 * single pass with indexOf (a lazy regular expression would rescan the rest of the text for every
 * unterminated opener).
 */
function splitProtected(text: string): string[] {
  const parts: string[] = [];
  let at = 0;
  for (;;) {
    const cdata = text.indexOf("<![CDATA[", at);
    const comment = text.indexOf("<!--", at);
    const next = cdata < 0 ? comment : comment < 0 ? cdata : Math.min(cdata, comment);
    if (next < 0) break;
    const isCdata = next === cdata;
    const close = text.indexOf(isCdata ? "]]>" : "-->", next + (isCdata ? 9 : 4));
    const end = close < 0 ? text.length : close + 3;
    parts.push(text.slice(at, next), text.slice(next, end));
    at = end;
  }
  parts.push(text.slice(at));
  return parts;
}

/**
 * Bare `&` becomes `&amp;`; an HTML named entity (`&nbsp;`, `&eacute;`) becomes its numeric
 * reference; an unknown name (`&doesnotexist;`) stays as literal text. CDATA and comments are
 * left alone, where `&` is already literal.
 */
export function escapeEntities(text: string): Repaired {
  let changed = false;
  const parts = splitProtected(text).map((part, index) => {
    if (index % 2 === 1) return part;
    return part.replace(
      /&(#x[0-9a-fA-F]+;?|#[0-9]+;?|[A-Za-z][A-Za-z0-9]*;)?/g,
      (match, ref: string | undefined) => {
        if (ref === undefined) {
          changed = true;
          return "&amp;";
        }
        if (ref.startsWith("#")) {
          if (ref.endsWith(";")) return match;
          changed = true;
          return `&${ref};`;
        }
        const name = ref.slice(0, -1);
        if (XML_ENTITIES.has(name)) return match;
        changed = true;
        const code = HTML_ENTITIES[name];
        return code === undefined ? `&amp;${ref}` : `&#${code};`;
      },
    );
  });
  return { text: parts.join(""), repairs: changed ? ["entities-escaped"] : [] };
}

export function stripInvalidChars(text: string): Repaired {
  const out = text.replace(INVALID_XML_CHARS, "");
  return { text: out, repairs: out.length !== text.length ? ["invalid-chars-removed"] : [] };
}

/** XML declarations anywhere (after a comment, or a second one): the text is already decoded. */
export function stripXmlDeclarations(text: string): Repaired {
  const out = text.replace(/<\?xml\b[^<>]*\?>/gi, "");
  return { text: out, repairs: out.length !== text.length ? ["xml-declaration-removed"] : [] };
}

/**
 * Feeds that bind the Atom or RSS 1.0 namespace to a prefix (`<p0:entry xmlns:p0="...Atom">`):
 * rss-parser matches element names literally, so the prefix hides every entry.
 */
export function unprefixFeedNamespaces(text: string): Repaired {
  const prefixes = new Set<string>();
  for (const match of text.matchAll(
    /xmlns:([A-Za-z_][\w.-]*)\s*=\s*["'](?:http:\/\/www\.w3\.org\/2005\/Atom|http:\/\/purl\.org\/rss\/1\.0\/)["']/g,
  )) {
    if (match[1] && match[1] !== "rdf") prefixes.add(match[1]);
  }
  let out = text;
  for (const prefix of prefixes) {
    out = out.replace(new RegExp(`<(/?)${prefix}:`, "g"), "<$1");
  }
  return { text: out, repairs: out !== text ? ["namespace-prefix-removed"] : [] };
}

/**
 * Closes a truncated document: cuts a half-written tag or CDATA opener at the end, closes an open
 * CDATA section or comment, then closes every element still open, innermost first.
 */
export function closeTruncated(text: string): Repaired {
  let out = text.replace(/\s+$/, "");
  const repairs: string[] = [];
  const lastCdata = out.lastIndexOf("<![CDATA[");
  if (lastCdata >= 0 && out.indexOf("]]>", lastCdata) < 0) {
    out += "]]>";
    repairs.push("cdata-closed");
  }
  const lastComment = out.lastIndexOf("<!--");
  if (lastComment >= 0 && out.indexOf("-->", lastComment) < 0) {
    out += "-->";
    repairs.push("comment-closed");
  }
  const lastOpen = out.lastIndexOf("<");
  if (lastOpen >= 0 && out.indexOf(">", lastOpen) < 0) {
    out = out.slice(0, lastOpen);
    repairs.push("partial-tag-cut");
  }
  const stack: string[] = [];
  const parts = splitProtected(out);
  for (let index = 0; index < parts.length; index += 2) {
    for (const match of (parts[index] ?? "").matchAll(/<(\/?)([A-Za-z_][\w:.-]*)(?:\s[^<>]*?)?(\/?)>/g)) {
      const [, closing, name, selfClosing] = match;
      if (!name || selfClosing) continue;
      if (!closing) {
        stack.push(name);
        continue;
      }
      const at = stack.lastIndexOf(name);
      if (at >= 0) stack.length = at;
    }
  }
  if (stack.length > 0) {
    out += stack
      .reverse()
      .map((name) => `</${name}>`)
      .join("");
    repairs.push("elements-closed");
  }
  return { text: out, repairs };
}

/** An RDF document without `<channel>` makes rss-parser 3.13 throw a TypeError; give it one. */
export function ensureRdfChannel(text: string): Repaired {
  if (!/<rdf:RDF[\s>]/.test(text) || /<channel[\s>]/.test(text)) return { text, repairs: [] };
  const out = text.replace(/(<rdf:RDF\b[^<>]*>)/, "$1<channel></channel>");
  return { text: out, repairs: out !== text ? ["rdf-channel-added"] : [] };
}

/** `<rss></rss>` with no `<channel>` (an empty document) also makes rss-parser throw a TypeError. */
export function ensureRssChannel(text: string): Repaired {
  if (!/<rss[\s>]/.test(text) || /<channel[\s>]/.test(text)) return { text, repairs: [] };
  const out = text.replace(/(<rss\b[^<>]*>)/, "$1<channel></channel>");
  return { text: out, repairs: out !== text ? ["rss-channel-added"] : [] };
}

/** Every repair, in the order that lets the next one see well-formed input. */
export function sanitise(text: string): Repaired {
  const repairs: string[] = [];
  let current = text;
  for (const step of [
    stripDeclarations,
    stripXmlDeclarations,
    stripInvalidChars,
    escapeEntities,
    unprefixFeedNamespaces,
    closeTruncated,
    ensureRdfChannel,
    ensureRssChannel,
  ]) {
    const result = step(current);
    current = result.text;
    repairs.push(...result.repairs);
  }
  return { text: current, repairs };
}

/**
 * Terminal and bidi controls, for text an operator reads (titles, summaries in `opsctl`, logs):
 * - ANSI escape sequences, whole: CSI (`ESC [ … final`), OSC (`ESC ] … BEL | ESC \`), the other
 *   two-character escapes, and their 8-bit forms (U+009B CSI, U+009D OSC, U+0090 DCS, U+0098 SOS,
 *   U+009E PM, U+009F APC up to the string terminator); a string sequence without its terminator
 *   loses only its introducer, never the rest of the title;
 * - remnants of SGR/erase sequences whose ESC was already dropped upstream (`[31m`, `[0m`, `[2K`),
 *   as XML parsing drops ESC itself;
 * - bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the invisible
 *   marks (U+200E, U+200F, U+061C): U+202E can make "evil.exe" read as "exe.live".
 * C0/C1 controls left after this are removed by the caller (after its mojibake repair, which
 * reads a lone U+0092 in "don\u0092t" as the windows-1252 apostrophe it was).
 */
export function stripTerminalControls(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what this removes.
      .replace(/\u001B\[[0-?]*[ -/]*[@-~]/g, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what this removes.
      .replace(/\u001B\][^\u0007\u001B\u009C]*(?:\u0007|\u001B\\|\u009C)/g, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what this removes.
      .replace(/\u001B[PX^_][^\u001B\u009C]*(?:\u001B\\|\u009C)/g, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what this removes.
      .replace(/\u001B[@-Z\\-_]|\u001B[ -/]*[0-~]/g, "")
      .replace(/\u009B[0-?]*[ -/]*[@-~]/g, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what this removes.
      .replace(/[\u009D\u0090\u0098\u009E\u009F][^\u0007\u001B\u009C]*(?:\u0007|\u001B\\|\u009C)/g, "")
      // Remnants are followed by the text they coloured ("[31mRED"), so only a closing bracket
      // spares one ("[K]" stays). A string that only looks like one ("[5million") loses it: rare
      // in a headline, and the hostile case is not.
      // Parameters are required: "[mutableArray addObject:]" in a code sample is not a remnant.
      .replace(/\[\d{1,3}(?:;\d{1,3})*m|\[[0-2][JK](?!\])/g, "")
      .replace(/[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g, "")
  );
}
