// Network addresses as they are, parsed rather than pattern-matched: IPv4 and IPv6 addresses, CIDR ranges
// with their prefix in range and no host bits, host:port upstreams, and https URLs. What passes here is
// also what Go's netip and net/url (Caddy) and Nix accept, so nothing is refused late on the host.
import { z } from "zod";

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

/** The 4 bytes of a dotted-quad IPv4 address (no leading zeros, as Go's netip requires), or undefined. */
export function parseIPv4(s: string): number[] | undefined {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.map(Number);
}

/** The 16 bytes of an IPv6 address (`::` once at most, an IPv4 tail allowed, no zone), or undefined. */
export function parseIPv6(s: string): number[] | undefined {
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const items = part.split(":");
    for (let i = 0; i < items.length; i++) {
      const v4 = i === items.length - 1 && items[i].includes(".") ? parseIPv4(items[i]) : undefined;
      if (v4) out.push(v4[0], v4[1], v4[2], v4[3]);
      else if (HEXTET.test(items[i])) out.push(parseInt(items[i], 16) >> 8, parseInt(items[i], 16) & 0xff);
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  // An IPv4 tail belongs at the very end only.
  if (halves.length === 2 && halves[0].includes(".")) return undefined;
  if (halves.length === 1) return head.length === 16 ? head : undefined;
  const missing = 16 - head.length - tail.length;
  return missing >= 2 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : undefined;
}

const PREFIX = /^(0|[1-9]\d{0,2})$/;

/** What is wrong with an address or CIDR range as an allow-list entry, or undefined. */
export function cidrProblem(s: string): string | undefined {
  const [addr, prefix, extra] = s.split("/");
  const bytes = parseIPv4(addr) ?? parseIPv6(addr);
  if (extra !== undefined || !bytes) {
    return "must be an IPv4 or IPv6 address or CIDR range such as \"192.168.1.0/24\" or \"fd00::/8\" (fix: list the LAN ranges allowed in)";
  }
  if (prefix === undefined) return undefined;
  const bits = bytes.length * 8;
  if (!PREFIX.test(prefix) || Number(prefix) > bits) {
    return `has prefix /${prefix}, but an ${bits === 32 ? "IPv4" : "IPv6"} prefix is 0 to ${bits} (fix: e.g. ${bits === 32 ? "/24" : "/64"})`;
  }
  const n = Number(prefix);
  if (n === 0) return `allows every address, which makes the LAN-only route public (fix: allow: "everyone" says so explicitly; otherwise list the LAN ranges)`;
  const masked = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, n - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  if (masked.some((b, i) => b !== bytes[i])) {
    const network = bits === 32 ? masked.join(".") : formatIPv6(masked);
    return `has host bits set after the /${n} prefix (fix: "${network}/${n}" for the network, or /${bits} for the one address)`;
  }
  return undefined;
}

function formatIPv6(bytes: number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 writes it.
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > len && j - i > 1) [best, len] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + len).join(":")}`;
}

/** An address or range allowed to reach something (a LAN-only route, the stack's LAN). */
export const cidr = z
  .string("must be a string such as \"192.168.1.0/24\" (fix: list the LAN ranges allowed in)")
  .superRefine((s, ctx) => {
    const problem = cidrProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const PORT = /^[1-9]\d{0,4}$/;

/** What is wrong with "host:port" (a DNS name, IPv4, or [IPv6]; port 1-65535), or undefined. */
export function upstreamProblem(s: string): string | undefined {
  const m = /^(\[([^\]]*)\]|[^:[\]]*):([^:]*)$/.exec(s);
  const fix = "(fix: e.g. \"127.0.0.1:8096\", \"nas.lan:8080\" or \"[fd00::2]:8096\")";
  if (!m) return `must be "host:port" ${fix}`;
  const [, hostPart, v6, portText] = m;
  const hostOk = v6 !== undefined ? parseIPv6(v6) !== undefined : parseIPv4(hostPart) !== undefined || (hostPart.length <= 253 && hostPart.split(".").every((l) => LABEL.test(l)) && !/^[\d.]+$/.test(hostPart));
  if (!hostOk) return `must be "host:port" with a DNS name, an IPv4 address or a bracketed IPv6 address as host ${fix}`;
  if (!PORT.test(portText) || Number(portText) > 65535) return `has port ${JSON.stringify(portText)}, but a port is 1 to 65535 ${fix}`;
  return undefined;
}

export const upstream = z.string("must be \"host:port\" (fix: e.g. \"127.0.0.1:8096\")").superRefine((s, ctx) => {
  const problem = upstreamProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

// Characters a URL may carry unencoded (RFC 3986), minus nothing: braces, quotes, backslashes, spaces and
// control characters must be percent-encoded, so they can never reach a Caddyfile token.
export const URL_CHARS = /^[A-Za-z0-9._~:/?#[\]@!$&'()*+,;=%-]+$/;

/** What is wrong with an https URL (no credentials, only URL characters), or undefined. */
export function httpsUrlProblem(s: string): string | undefined {
  const fix = "(fix: e.g. \"https://acme-staging-v02.api.letsencrypt.org/directory\")";
  if (!URL_CHARS.test(s)) return `must be an https URL of URL characters only; spaces, braces, quotes and control characters must be percent-encoded ${fix}`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `must be an https URL ${fix}`;
  }
  if (u.protocol !== "https:") return `must be an https URL, not ${u.protocol.replace(/:$/, "")} ${fix}`;
  if (u.hostname === "") return `must name a host ${fix}`;
  if (u.username !== "" || u.password !== "") return `must not carry a user or password, which would end up in the world-readable Nix store ${fix}`;
  return undefined;
}

export const httpsUrl = z.string("must be an https URL (fix: e.g. \"https://acme-staging-v02.api.letsencrypt.org/directory\")").superRefine((s, ctx) => {
  const problem = httpsUrlProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
