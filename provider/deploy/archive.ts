// The one upload of a deploy: a POSIX ustar archive of every file, streamed on the start
// command's stdin and unpacked by tar on the host. Pure; no library needed for plain files.

export interface ArchiveFile {
  path: string; // relative, '/'-separated
  content: string | Buffer; // text as UTF-8, or bytes (a secret file given as base64)
  mode: number;
}

/** A rendered flake's files as they travel: under flake/, readable by everyone (no secret is in them). */
export function flakeEntries(files: Record<string, string>): ArchiveFile[] {
  return Object.entries(files).map(([path, content]) => ({ path: `flake/${path}`, content, mode: 0o644 }));
}

const BLOCK = 512;

function field(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, Math.min(length, Buffer.byteLength(value)), "utf8");
}

const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, "0") + "\0";

// ustar keeps 100 bytes of name and 155 of prefix; split long paths at a '/'.
function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: "" };
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(name) <= 100 && Buffer.byteLength(prefix) <= 155) return { name, prefix };
  }
  throw new Error(`path too long for the upload archive: ${path}`);
}

function header(path: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const { name, prefix } = splitPath(path);
  field(h, 0, 100, name);
  field(h, 100, 8, octal(mode, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(size, 12));
  field(h, 136, 12, octal(0, 12));
  field(h, 148, 8, "        ");
  field(h, 156, 1, "0");
  field(h, 257, 6, "ustar\0");
  field(h, 263, 2, "00");
  field(h, 345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

export function archive(files: readonly ArchiveFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const body = typeof f.content === "string" ? Buffer.from(f.content, "utf8") : f.content;
    parts.push(header(f.path, body.length, f.mode), body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
