// Temporary directories for one test file, every one removed after the file's tests: the suite leaves
// nothing behind in the temporary directory (test/teardown.ts checks).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new directory under the temporary directory, named PREFIX plus random characters. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
