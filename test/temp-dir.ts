// Temporary directories for one test file, every one removed after the file's tests: the suite leaves
// nothing behind in the temporary directory (test/teardown.ts checks). Jest runs root-level afterAll hooks
// in the order they are declared, after every describe's own: this one comes first, on import.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const made: string[] = [];
const removeAll = () => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
};
// Under jest, after the file's tests; elsewhere (the bench uses the e2e workspace) when the process ends.
if (typeof afterAll === "function") afterAll(removeAll);
else process.on("exit", removeAll);

/** A new directory under the temporary directory, named PREFIX plus random characters. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
