import { isUtf8 } from "node:buffer";
import { gunzipSync } from "node:zlib";
import chardet from "chardet";
import iconv from "iconv-lite";

/**
 * Bytes to text before any XML parser sees them. A feed's charset can come from three places
 * that disagree in the wild; we trust them in this order:
 *   1. a byte-order mark (it cannot be wrong about the bytes that follow it),
 *   2. the HTTP Content-Type charset (RFC 7303: it overrides the document's own declaration),
 *   3. the XML declaration's `encoding`,
 *   4. the shape of the first bytes (`<` in UTF-16/32 without a BOM),
 *   5. UTF-8 when the bytes are valid UTF-8,
 *   6. else a charset detector (npm `chardet`, ICU's detector ported: byte-frequency and n-gram
 *      models of the legacy charsets) over a bounded sample of the document's text, else UTF-8.
 * Latin-1 and ASCII labels decode as windows-1252, as browsers do (WHATWG Encoding): publishers
 * who say ISO-8859-1 routinely send curly quotes at 0x91-0x94.
 */

export interface DecodedDocument {
  text: string;
  /** The charset the bytes were decoded with (iconv-lite's name). */
  charset: string;
  /** Where the charset came from. */
  source: "bom" | "http" | "xml-declaration" | "sniffed" | "detected" | "default";
  /** True when the body was gzip bytes served without Content-Encoding and was unpacked here. */
  gunzipped: boolean;
}

/** The body is not text in any charset we can name, or expands past the cap. */
export class DecodeError extends Error {
  override readonly name = "DecodeError";
}

const LATIN1_ALIASES = new Set([
  "iso-8859-1",
  "iso8859-1",
  "latin1",
  "latin-1",
  "l1",
  "us-ascii",
  "ascii",
  "iso_8859-1",
]);

function normaliseLabel(label: string): string | undefined {
  const cleaned = label
    .trim()
    .replace(/^["']|["']$/g, "")
    .toLowerCase();
  if (!cleaned) return undefined;
  if (LATIN1_ALIASES.has(cleaned)) return "windows-1252";
  // A bare "utf-16"/"utf-32" label without a BOM means big-endian (RFC 2781 / Unicode 3.9).
  if (cleaned === "utf-16") return "utf-16be";
  if (cleaned === "utf-32") return "utf-32be";
  return iconv.encodingExists(cleaned) ? cleaned : undefined;
}

/** The `charset` parameter of a Content-Type header, if any. */
export function charsetFromContentType(contentType: string | null | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*("?)([^";\s]+)\1/i.exec(contentType ?? "");
  return match?.[2];
}

function bomCharset(bytes: Uint8Array): { charset: string; length: number } | undefined {
  const [a, b, c, d] = bytes;
  if (a === 0x00 && b === 0x00 && c === 0xfe && d === 0xff) return { charset: "utf-32be", length: 4 };
  if (a === 0xff && b === 0xfe && c === 0x00 && d === 0x00) return { charset: "utf-32le", length: 4 };
  if (a === 0xef && b === 0xbb && c === 0xbf) return { charset: "utf-8", length: 3 };
  if (a === 0xfe && b === 0xff) return { charset: "utf-16be", length: 2 };
  if (a === 0xff && b === 0xfe) return { charset: "utf-16le", length: 2 };
  return undefined;
}

/** UTF-16/32 without a BOM still start with `<` (or whitespace) in their own width. */
function sniffWidth(bytes: Uint8Array): string | undefined {
  const [a, b, c, d] = bytes;
  if (a === 0x00 && b === 0x00 && c === 0x00 && d !== 0x00) return "utf-32be";
  if (a !== 0x00 && b === 0x00 && c === 0x00 && d === 0x00) return "utf-32le";
  if (a === 0x00 && b !== 0x00 && c === 0x00 && d !== 0x00) return "utf-16be";
  if (a !== 0x00 && b === 0x00 && c !== 0x00 && d === 0x00) return "utf-16le";
  return undefined;
}

/** The XML declaration's encoding, read from the ASCII-compatible head of the document. */
function declaredCharset(bytes: Uint8Array, width: string | undefined): string | undefined {
  const head = width
    ? iconv.decode(Buffer.from(bytes.subarray(0, 4096)), width)
    : Buffer.from(bytes.subarray(0, 2048)).toString("latin1");
  const match = /<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']/.exec(head);
  return match?.[1];
}

/** Bytes of the body the detector looks at, at most: a 10 MB body costs what a 256 KiB one does. */
export const DETECT_SCAN_BYTES = 256 * 1024;
/** Bytes of text (markup removed) handed to the detector, at most. */
export const DETECT_SAMPLE_BYTES = 64 * 1024;
/**
 * The detector's answers at or below this confidence (0-100) are not used: its multi-byte
 * recognisers answer 10 for any text with high bytes and no evidence (one short word).
 */
const DETECT_MIN_CONFIDENCE = 10;

/**
 * chardet's names for the charsets we accept from it, as iconv-lite names them. Every Latin-script
 * answer decodes as windows-1252, as an undeclared legacy body did before the detector: on a few
 * accented words its Latin models disagree among themselves (Spanish scored ISO-8859-2 above
 * ISO-8859-1 here), windows-1252 is the Web's default legacy charset, and the detector is here to
 * recognise the scripts windows-1252 certainly misreads (Cyrillic, Greek, CJK). Its Arabic, Hebrew
 * and Thai models are left out: on short Cyrillic text they won (ISO-8859-8 for a two-word
 * windows-1251 feed here), and the pipeline reads US-market news.
 */
const DETECTED_CHARSETS: Record<string, string> = {
  "ISO-8859-1": "windows-1252",
  "windows-1252": "windows-1252",
  "ISO-8859-2": "windows-1252",
  "ISO-8859-9": "windows-1252",
  "windows-1250": "windows-1252",
  "windows-1254": "windows-1252",
  "windows-1257": "windows-1252",
  "windows-1258": "windows-1252",
  "ISO-8859-5": "iso-8859-5",
  "windows-1251": "windows-1251",
  "KOI8-R": "koi8-r",
  "ISO-8859-7": "iso-8859-7",
  Shift_JIS: "shift_jis",
  "EUC-JP": "euc-jp",
  "EUC-KR": "euc-kr",
  Big5: "big5",
  GB18030: "gb18030",
};

/**
 * The legacy charset of bytes that are not valid UTF-8 and declare nothing, or undefined when the
 * detector is unsure or finds mostly valid UTF-8 (then UTF-8 with replacement characters is the
 * better reading). The detector sees only the words of the text that hold a non-ASCII byte, not
 * the markup, URLs, dates or English words: those are ASCII in every charset it knows and would
 * drown the n-grams of the headlines (ICU's detector strips tags for the same reason). Bounded:
 * it scans DETECT_SCAN_BYTES at most.
 */
export function detectLegacyCharset(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, DETECT_SCAN_BYTES));
  const text = head
    .toString("latin1")
    .replace(/<!\[CDATA\[|\]\]>/g, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/&#?\w+;/g, " ");
  // Only words holding a byte above 0x7F tell one legacy charset from another; the ASCII words
  // (English channel text, dates, URLs) only pull every answer toward ISO-8859-1's English model.
  const words = text.match(/[^\s]*[\x80-\xff][^\s]*/g) ?? [];
  const sample = Buffer.from(words.join(" ").slice(0, DETECT_SAMPLE_BYTES), "latin1");
  const matches = chardet.analyse(sample);
  if (matches.some((match) => match.name === "UTF-8")) return undefined;
  const best = matches.find((match) => match.name in DETECTED_CHARSETS);
  if (!best || best.confidence <= DETECT_MIN_CONFIDENCE) return undefined;
  return DETECTED_CHARSETS[best.name];
}

/**
 * Decodes a feed body.
 * @param maxBytes cap on the size after gunzipping a body that arrived gzipped without saying so.
 * @throws DecodeError when a sniffed gzip body is corrupt or expands past `maxBytes`.
 */
export function decodeFeedBody(
  body: Uint8Array,
  options: { contentType?: string | null | undefined; maxBytes?: number } = {},
): DecodedDocument {
  let bytes = body;
  let gunzipped = false;
  // node-feedparser's corpus has a feed that is gzip bytes with no Content-Encoding; some servers
  // really do this (a pre-compressed file served as-is). The cap makes a bomb harmless here too.
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: options.maxBytes ?? 8 * 1024 * 1024 });
      gunzipped = true;
    } catch (error) {
      throw new DecodeError(`body is gzip data that does not unpack within the size cap: ${String(error)}`, {
        cause: error,
      });
    }
  }
  const bom = bomCharset(bytes);
  const width = sniffWidth(bytes);
  let charset: string;
  let source: DecodedDocument["source"];
  const http = normaliseLabel(charsetFromContentType(options.contentType) ?? "");
  const declared = normaliseLabel(
    declaredCharset(
      bytes,
      bom?.charset.startsWith("utf-") && bom.charset !== "utf-8" ? bom.charset : width,
    ) ?? "",
  );
  if (bom) {
    charset = bom.charset;
    source = "bom";
  } else if (http && !(width && !http.startsWith("utf-"))) {
    charset = http;
    source = "http";
  } else if (declared && !(width && !declared.startsWith("utf-"))) {
    // A document in UTF-16/32 cannot truthfully declare a single-byte charset; trust the width.
    charset = width && declared.startsWith("utf-8") ? width : declared;
    source = "xml-declaration";
  } else if (width) {
    charset = width;
    source = "sniffed";
  } else {
    // Nothing decides: valid UTF-8 is UTF-8; anything else goes to the detector.
    const detected = isUtf8(bytes) ? undefined : detectLegacyCharset(bytes);
    charset = detected ?? "utf-8";
    source = detected ? "detected" : "default";
  }
  const payload = Buffer.from(bom ? bytes.subarray(bom.length) : bytes);
  let text = iconv.decode(payload, charset, { stripBOM: true });
  // A document that says (or is assumed to be) UTF-8 but holds not one valid multi-byte sequence,
  // only invalid bytes, is legacy 8-bit text mislabelled; windows-1252 is the best guess. A UTF-8
  // document with a few bad bytes keeps its UTF-8 (the bad bytes become U+FFFD).
  if (charset === "utf-8" && source !== "http" && text.includes("\uFFFD") && !/[\u0080-\uFFFC]/.test(text)) {
    text = iconv.decode(payload, "windows-1252");
    charset = "windows-1252";
  }
  return { text: text.replace(/^\uFEFF/, ""), charset, source, gunzipped };
}
