/**
 * The link filter (RELIABILITY.md F2): every URL in a reply whose host is not on the role's allow-list is
 * removed before sending — scheme URLs, `www.` addresses, bare domains a chat app would turn into links,
 * markdown links (their text is kept) and markdown images (removed whole: an image URL is fetched without a
 * click, the classic exfiltration channel). Hosts are compared after URL parsing (punycode, userinfo tricks).
 *
 * @module
 */

/** What replaces a removed link. */
export const LINK_REMOVED = "[link removed]";

/**
 * Top-level domains matched in any case without a scheme ("EVIL.COM"). Any other lowercase `name.tld` is treated
 * as a link too (chat apps link every IANA TLD), except file names with the extensions below.
 */
const TLDS = (
  "com net org io ai co app dev me info biz xyz online site top ru cn tk ml ga cf gq ly gl to cc tv us " +
  "uk de fr es it nl eu ch be at pl br in jp kr au ca link click live club shop store page ws su ir pw " +
  "icu vip fun space website tech news blog cloud email host press gg im is la lol win zip mov"
).split(" ");
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
const WWW = new RegExp(String.raw`(?<![\w.@-])www\.${TAIL}`, "gi");
const LABELS = String.raw`(?<![\w.@-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+`;
// Not followed by "@": "ann.lee@acme.io" is an e-mail address, not a link to ann.lee.
const BARE_KNOWN = new RegExp(String.raw`${LABELS}(?:${TLDS.join("|")})\b(?!@)(?:[/?#:]${TAIL})?`, "gi");
const BARE_ANY = new RegExp(String.raw`${LABELS}([a-z]{2,24})\b(?!@)(?:[/?#:]${TAIL})?`, "g");

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
  const ok = (link: string) => hostAllowed(hostOf(link), allowed);
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
  for (const pattern of [SCHEME_URL, PSEUDO_URL, WWW, BARE_KNOWN, BARE_ANY]) {
    out = out.replace(pattern, (all: string, tld?: unknown) => {
      const { url, rest } = trimTail(all);
      if (ok(url) || (pattern === BARE_ANY && typeof tld === "string" && FILE_EXTENSIONS.has(tld))) {
        return all;
      }
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
