/**
 * The link filter (RELIABILITY.md F2): every URL in a reply whose host is not on the role's allow-list is
 * removed before sending — scheme URLs, `www.` addresses, bare domains and IPv4 addresses a chat app would turn
 * into links (Telegram's own detection: any script, any case, "_" in subdomains), markdown links (their text is
 * kept) and markdown images (removed whole: an image URL is fetched without a click, the classic exfiltration
 * channel). Hosts are compared after URL parsing (punycode, userinfo tricks).
 *
 * @module
 */
import { INVISIBLE } from "../../channel/invisible.ts";

/** What replaces a removed link. */
export const LINK_REMOVED = "[link removed]";

/**
 * Top-level domains that make a bare `name.tld` a link in any case ("EVIL.COM"). Any other TLD does too (chat
 * apps link every IANA TLD), except file names with the extensions below and a TLD capitalized like a word.
 */
const TLDS = new Set(
  (
    "com net org io ai co app dev me info biz xyz online site top ru cn tk ml ga cf gq ly gl to cc tv us " +
    "uk de fr es it nl eu ch be at pl br in jp kr au ca link click live club shop store page ws su ir pw " +
    "icu vip fun space website tech news blog cloud email host press gg im is la lol win zip mov"
  ).split(" "),
);
const FILE_EXTENSIONS = new Set(
  (
    "js ts md py sh json txt pdf png jpg jpeg gif csv html htm xml yml yaml exe doc docx xls xlsx ppt " +
    "pptx mp3 mp4 svg rs rb java php css log ini cfg conf lock toml tsx jsx webp heic wav zipx"
  ).split(" "),
);
const TAIL = String.raw`[^\s<>"'\x60\])]*`;
const MD_IMAGE = /!\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+["'][^"'\n]*["'])?\s*\)/g;
const MD_LINK = /\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+["'][^"'\n]*["'])?\s*\)/g;
const SCHEME_URL = new RegExp(
  String.raw`\b(?:[a-z][a-z0-9+.-]{1,20}:\/\/|(?:https?|ftp|wss?|file):[\\/]*)${TAIL}`,
  "gi",
);
const PSEUDO_URL = /\b(?:javascript|data|vbscript|mailto):[^\s<>"'`)\]]+/gi;
/** A bare link starts where no word, dotted name or e-mail address goes on. */
const START = String.raw`(?<![\p{L}\p{N}_.@-])`;
/** After the host: not more of a word, nor an e-mail address ("ann.lee@acme.io"); then a port or a path. */
const REST = String.raw`(?![\p{L}\p{N}_])(?!@)(?:[/?#:]${TAIL})?`;
const WWW = new RegExp(String.raw`${START}www\.${TAIL}`, "giu");
// Labels in any script. Invisible characters count as part of a label, so a zero-width joiner inside one
// cannot hide the link. Telegram links "_" in subdomains but not in the label before the TLD.
const labelOf = (chars: string) => String.raw`[${chars}](?:[${chars}-]{0,61}[${chars}])?\.`;
const NAME = String.raw`\p{L}\p{N}${INVISIBLE}`;
const BARE = new RegExp(
  String.raw`${START}(?:${labelOf(`${NAME}_`)})*${labelOf(NAME)}(\p{L}{2,24})${REST}`,
  "giu",
);
const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;
// Four numbers up to 255 (no leading zeros) are an address, "1.2.3" or "19.99" are not.
const IPV4 = new RegExp(String.raw`${START}(?:${OCTET}\.){3}${OCTET}(?!\.?\d)${REST}`, "gu");
/** An invisible character in a link hides where it points (and URL parsing drops some): never allowed. */
const HIDDEN = new RegExp(`[${INVISIBLE}]`, "u");

/**
 * The common internationalized top-level domains. A TLD in another script is a link only when it is one of these:
 * text in those scripts often has a full stop with no space after it ("请访问网站.谢谢"), which is no link.
 */
const IDN_TLDS = new Set(
  (
    "рф рус москва онлайн сайт орг укр бел срб мкд мон қаз 中国 中國 公司 网络 網絡 网址 在线 在線 网站 网店 商城 " +
    "手机 集团 香港 台湾 台灣 澳門 新加坡 みんな コム 한국 닷컴 닷넷 ไทย भारत भारतम् ভারত ਭਾਰਤ ભારત இந்தியா " +
    "ලංකා مصر السعودية امارات ایران عمان قطر المغرب تونس الجزائر الاردن فلسطين عرب شبكة موقع ελ հայ გე"
  ).split(" "),
);

/** Whether a bare `name.tld` is a link, as Telegram decides it: "Hello.World" and "report.pdf" are not. */
function isLinkTld(tld: string): boolean {
  const lower = tld.toLowerCase();
  if (TLDS.has(lower)) return true;
  if (/[^a-z]/.test(lower)) return IDN_TLDS.has(lower);
  const capitalized = tld !== lower && tld.slice(1) === lower.slice(1);
  return !capitalized && !FILE_EXTENSIONS.has(lower);
}

/** Trailing sentence punctuation is not part of a URL. */
function trimTail(url: string): { url: string; rest: string } {
  const m = /[.,;:!?'"*_~]+$/.exec(url);
  return m ? { url: url.slice(0, m.index), rest: m[0] } : { url, rest: "" };
}

/** The host a link points to, lowercase without a trailing dot; undefined when it cannot be parsed. */
export function hostOf(link: string): string | undefined {
  const raw = link.trim();
  if (/^mailto:/i.test(raw)) {
    return raw.slice(raw.indexOf("@") + 1).split(/[?#]/)[0]?.toLowerCase() || undefined;
  }
  if (/^(javascript|data|vbscript):/i.test(raw)) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `http://${raw}`;
  try {
    const host = new URL(withScheme).hostname.toLowerCase().replace(/\.$/, "");
    return host === "" ? undefined : host;
  } catch {
    return undefined;
  }
}

/** True when `host` is on the list or a subdomain of an entry. */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (host === undefined) return false;
  return allowed.some((a) => host === a || host.endsWith(`.${a}`));
}

export interface LinkFilterResult {
  text: string;
  /** The links removed, as they appeared. */
  removed: string[];
}

/**
 * Removes every link whose host is not allowed.
 *
 * @example
 * filterLinks("See https://evil.com/x?d=1 or https://docs.example.com.", ["example.com"]).text
 * // "See [link removed] or https://docs.example.com."
 */
export function filterLinks(text: string, allowed: readonly string[]): LinkFilterResult {
  const removed: string[] = [];
  const ok = (link: string) => !HIDDEN.test(link) && hostAllowed(hostOf(link), allowed);
  let out = text.replace(MD_IMAGE, (all: string, _alt: string, url: string) => {
    if (ok(url)) return all;
    removed.push(url);
    return "";
  });
  out = out.replace(MD_LINK, (all: string, label: string, url: string) => {
    if (ok(url)) return all;
    removed.push(url);
    return label;
  });
  for (const pattern of [SCHEME_URL, PSEUDO_URL, WWW, IPV4, BARE]) {
    out = out.replace(pattern, (all: string, tld?: unknown) => {
      const { url, rest } = trimTail(all);
      if (ok(url) || (pattern === BARE && typeof tld === "string" && !isLinkTld(tld))) return all;
      removed.push(url);
      return `${LINK_REMOVED}${rest}`;
    });
  }
  return { text: out, removed };
}

/** Every link-like string in `text` (what a test checks the output against). */
export function findLinks(text: string): string[] {
  return filterLinks(text, []).removed;
}
