// The bench reads what deploy.build "local" copied to each host from the progress lines a deploy
// prints: made here with the labels the deploy itself uses, so a changed label fails this test, not
// a 40-minute bench run.
import { copiesIn } from "../../bench/push";
import * as phases from "../../provider/deploy/phases";

const copying = (paths: number, bytes: number) =>
  phases.phaseLabel("copying", "switch", phases.copied(phases.initial("deployer"), { paths, totalPaths: paths, bytes, totalBytes: bytes }));
const building = phases.phaseLabel("building", "switch", phases.initial("deployer"));

describe("the bench's reading of copies", () => {
  it("reads each host's paths, bytes, copy and build time once, though the CLI prints every line twice", () => {
    const lines = [
      `media: ${building} done in 2.9 s`,
      `media: ${copying(11, 496_230)} done in 3.0 s`,
      `gaming: ${building} done in 1.5 s`,
      `gaming: ${copying(0, 0)} done in 2.5 s`,
    ];
    const output = [...lines.map((l) => `    info: ${l}`), "Diagnostics:", ...lines.map((l) => `    ${l}`)].join("\n");
    expect(copiesIn(output)).toEqual([
      { host: "media", paths: 11, bytes: Math.round(484.6 * 1024), copySeconds: 3.0, buildSeconds: 2.9 },
      { host: "gaming", paths: 0, bytes: 0, copySeconds: 2.5, buildSeconds: 1.5 },
    ]);
  });

  it("leaves out a host that copied nothing because it was not deployed", () => {
    expect(copiesIn(`media: ${building} done in 2.9 s\nmedia: upload (5000 bytes) done in 0.1 s`)).toEqual([]);
  });
});
