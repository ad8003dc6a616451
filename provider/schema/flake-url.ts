// Flake inputs (nixpkgs, and any later input) as the host will fetch them. The URL is written into
// flake.nix and flake.lock, which land in the host's world-readable Nix store and in Pulumi state, so it
// never carries a credential; and the flake is built on the host, so a local path names the host's files,
// never the deployer's: one is taken only when the declaration says so (allowLocal).
import { z } from "zod";
import { URL_CHARS } from "./address";
import { strictObject } from "./common";

const EXAMPLE = "github:NixOS/nixpkgs/nixos-26.11";
const SCHEMES_FIX = `(fix: use a github:, gitlab:, sourcehut:, git+https:, git+ssh: or https: URL, e.g. "${EXAMPLE}")`;

// Nix's flake reference types by URL scheme (Nix manual, "Flake references"), in three kinds: fetched
// over an encrypted, authenticated connection; fetched in the clear, where anyone on the path can hand
// the host another nixpkgs; and read from the file system of the machine that builds, the host.
const REMOTE = new Set(["github", "gitlab", "sourcehut", "git+https", "git+ssh", "hg+https", "hg+ssh", "https", "tarball+https", "file+https"]);
const CLEARTEXT = new Set(["http", "git+http", "git+git", "hg+http", "tarball+http", "file+http"]);
const LOCAL = new Set(["path", "git+file", "hg+file", "file", "tarball+file", "file+file"]);
/** Schemes whose user name is where a token goes (GitHub and GitLab take one as the user over https). */
const HTTP_LIKE = /(^|\+)https?$/;

// Query parameters that carry a credential, by name or as a part of one ("private_token", "X-Amz-Signature").
const SECRET_PARAMS = new Set(["token", "access_token", "private_token", "password", "passwd", "pwd", "secret", "apikey", "api_key", "key", "signature", "sig", "credential", "credentials", "auth"]);

function secretParam(name: string): boolean {
  const n = name.toLowerCase();
  return SECRET_PARAMS.has(n) || n.split(/[-_.]/).some((part) => part !== "key" && SECRET_PARAMS.has(part));
}

const EXPOSED = "would be written in plain text into the host's world-readable Nix store (flake.nix, flake.lock) and into Pulumi state";

function credentialProblem(scheme: string, rest: string): string | undefined {
  const fix = "(fix: remove it from the URL and let the host authenticate itself: an access-tokens entry in its nix.conf, or an SSH key with git+ssh://)";
  if (rest.startsWith("//")) {
    const authority = rest.slice(2).split(/[/?#]/)[0];
    const at = authority.lastIndexOf("@");
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      if (userinfo.includes(":")) return `carries a password in its user part, which ${EXPOSED} ${fix}`;
      if (HTTP_LIKE.test(scheme)) return `carries a user name, where an https URL holds an access token, which ${EXPOSED} ${fix}`;
    }
  }
  const query = rest.split("#")[0].split("?").slice(1).join("?");
  for (const pair of query === "" ? [] : query.split("&")) {
    const name = pair.split("=")[0];
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // A malformed escape is kept as written; it cannot then name a credential.
    }
    if (secretParam(decoded)) return `carries a credential in its query parameter '${decoded}', which ${EXPOSED} ${fix}`;
  }
  return undefined;
}

/**
 * What is wrong with a flake URL the host will fetch, or undefined. `allowLocal` admits a path on the
 * host (path:, git+file:, ...), which the declaration must ask for: the deployer's files are not there.
 */
export function flakeUrlProblem(url: string, allowLocal: boolean): string | undefined {
  if (!URL_CHARS.test(url)) return `must be made of URL characters only; spaces, braces, quotes and control characters must be percent-encoded (fix: e.g. "${EXAMPLE}")`;
  if (/^[./~]/.test(url)) {
    return `is a bare path, which Nix reads on the machine that builds, the host, not the deployer (fix: give a remote URL such as "${EXAMPLE}"; for a copy that is on the host itself, write path:/that/path and set allowLocal: true beside url)`;
  }
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/.exec(url);
  if (!m) {
    if (/^[A-Za-z][A-Za-z0-9_-]*(\/|$)/.test(url)) return `is a flake registry name, which the host resolves through its own registry, so it may not be what this program declares ${SCHEMES_FIX}`;
    return `must be a flake URL ${SCHEMES_FIX}`;
  }
  const [, scheme, rest] = m;
  const credential = credentialProblem(scheme, rest);
  if (credential) return credential;
  if (REMOTE.has(scheme)) return undefined;
  if (scheme === "flake") return `is a flake registry name, which the host resolves through its own registry, so it may not be what this program declares ${SCHEMES_FIX}`;
  if (CLEARTEXT.has(scheme)) return `is fetched without TLS (${scheme}:), so anyone on the way can hand the host another source ${SCHEMES_FIX}`;
  if (LOCAL.has(scheme)) {
    if (!allowLocal) return `is a path on the machine that builds, the host, which cannot see the deployer's files (fix: give a remote URL such as "${EXAMPLE}", or set allowLocal: true beside url if that path exists on the host)`;
    if (!/^(\/|\/\/\/)[^/]/.test(rest)) return `must be an absolute path on the host: a relative one resolves inside the uploaded flake, which holds no such source (fix: e.g. "${scheme}:/srv/nixpkgs")`;
    return undefined;
  }
  return `uses ${scheme}:, which is not a flake URL scheme Nix fetches ${SCHEMES_FIX}`;
}

/**
 * A flake input: `url`, `allowLocal` and the input's own fields (`extra`), strict like every object
 * here. The URL is checked with allowLocal beside it, so every input refuses what nixpkgs refuses.
 */
export function flakeInput<T extends z.ZodRawShape>(extra: T, what: string) {
  const base = {
    /** Flake URL; see flakeUrlProblem for what is refused. */
    url: z.string(`must be a string holding a flake URL ${SCHEMES_FIX}`).optional(),
    /** The URL may name a path on the host (path:, git+file:, ...): only for a copy that is there. */
    allowLocal: z.boolean("must be true or false (fix: true only when the local path exists on the host)").optional(),
  };
  // An input's own field replaces the base one of its name (an extra input's url is required).
  const fields = { ...base, ...extra } as Omit<typeof base, keyof T> & T;
  return strictObject(fields, what).superRefine((v, ctx) => {
    const { url, allowLocal } = v as { url?: string; allowLocal?: boolean };
    const problem = url === undefined ? undefined : flakeUrlProblem(url, allowLocal === true);
    if (problem) ctx.addIssue({ code: "custom", path: ["url"], message: problem });
  });
}
