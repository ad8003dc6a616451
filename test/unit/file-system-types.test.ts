// NixOS 26.05 dropped fsType's "auto" default: a host module that declares a file system without one
// is refused before any host is touched, naming the host, the file, the mount point and the fix.
import { fileSystemTypeRule, untypedFileSystems } from "../../provider/model/own-modules";
import { host, HostInput } from "../../provider/schema/host";
import { hostFiles, mediaHost } from "./support/fixtures";

const DATA = '{ fileSystems."/data" = { device = "/dev/disk/by-label/data"; }; }';
const spec = (release: HostInput["release"], files: Record<string, string>) => host.parse(mediaHost({ release, hostFiles: { ...hostFiles(), ...files } }));

describe("file systems without fsType", () => {
  test("from 26.05 on, refused with the host, the file, the mount point and the fix", () => {
    for (const release of ["26.05", "26.11"] as const) {
      expect(fileSystemTypeRule(spec(release, { "data.nix": DATA }))).toEqual([
        `host 'media': nix/hosts/media/data.nix declares the file system /data without fsType, which NixOS ${release} requires (it no longer defaults to "auto") ` +
          '(fix: add fsType = "<type>"; to fileSystems."/data", the type `findmnt -no FSTYPE /data` prints on the host, or "auto" to keep probing it as before)',
      ]);
    }
  });

  test("before 26.05 the default holds: nothing to say", () => {
    expect(fileSystemTypeRule(spec("25.11", { "data.nix": DATA }))).toEqual([]);
  });

  test("a type given anywhere (another file, a mkDefault) counts; a mount point other than the name is named", () => {
    expect(untypedFileSystems(spec("26.05", { "data.nix": DATA, "types.nix": '{ lib, ... }: { fileSystems."/data".fsType = lib.mkDefault "xfs"; }' }))).toEqual([]);
    expect(untypedFileSystems(spec("26.05", { "data.nix": '{ fileSystems.data = { mountPoint = "/srv/data"; device = "/dev/vdb"; }; }' }))).toEqual([
      { where: "nix/hosts/media/data.nix", name: "data", mountPoint: "/srv/data" },
    ]);
  });

  test("adopt's hardware-configuration.nix types every file system; a computed entry is left to NixOS", () => {
    expect(untypedFileSystems(spec("26.05", {}))).toEqual([]);
    expect(untypedFileSystems(spec("26.05", { "bind.nix": '{ lib, ... }: { fileSystems."/srv" = lib.mkBind "/data/srv"; }' }))).toEqual([]);
  });
});
