// adopt types every file system it carries: NixOS 26.05 and later require fsType, and a lived-in
// configuration.nix may declare a disk without one (it defaulted to "auto" before). The type comes from
// the host's mount table, else "auto"; the review list says which and why.
import { HostReadout, parseReadout, planAdoption } from "../../provider/adopt/plan";
import { untypedFileSystems } from "../../provider/model/own-modules";
import { host } from "../../provider/schema/host";
import { hostFiles, mediaHost } from "./support/fixtures";

const hardware = hostFiles()["hardware-configuration.nix"];
const configuration = `{ ... }: {
  imports = [ ./hardware-configuration.nix ];
  boot.loader.systemd-boot.enable = true;
  fileSystems."/data" = { device = "/dev/disk/by-label/data"; };
  fileSystems."/srv/media files" = { device = "/dev/disk/by-label/media"; };
  fileSystems."/backup" = { device = "/dev/disk/by-label/backup"; fsType = "btrfs"; };
  system.stateVersion = "25.11";
}
`;
const readout: HostReadout = {
  hardware,
  files: { "hardware-configuration.nix": hardware, "configuration.nix": configuration },
  firmware: "uefi",
  systemdBoot: true,
  mounts: { "/": "ext4", "/data": "xfs" },
};

test("the readout's mount table: findmnt's lines, its escapes undone", () => {
  const line = `mounts=${Buffer.from("/ ext4\n/srv/media\\x20files ext4\n/data xfs").toString("base64")}`;
  expect(parseReadout(line).mounts).toEqual({ "/": "ext4", "/srv/media files": "ext4", "/data": "xfs" });
});

test("every carried file system without fsType gets one in file-systems.nix: the mounted type, else auto, each in the review list", () => {
  const plan = planAdoption("media", readout, { hostName: "media", stateVersion: "25.11" });
  const types = plan.files["file-systems.nix"];
  expect(types).toContain('"/data".fsType = "xfs";');
  expect(types).toContain('"/srv/media files".fsType = "auto";');
  expect(types).not.toContain("/backup");
  expect(plan.review).toContain('/etc/nixos/configuration.nix declares the file system /data without fsType, which NixOS 26.05 and later require: file-systems.nix gives it "xfs", the type the host mounts it with');
  expect(plan.review).toContainEqual(expect.stringMatching(/^\/etc\/nixos\/configuration\.nix declares the file system \/srv\/media files without fsType, .*"auto" \(the host does not mount it now/));
  // The folder adopt writes passes 26.05's check.
  const spec = host.parse(mediaHost({ release: "26.05", hostFiles: plan.files }));
  expect(untypedFileSystems(spec)).toEqual([]);
});

test("a configuration whose file systems all have a type gets no file-systems.nix", () => {
  const typed = { ...readout, files: { ...readout.files, "configuration.nix": configuration.replace(/fileSystems\."\/(data|srv\/media files)".*\n/g, "") } };
  expect(planAdoption("media", typed, { hostName: "media", stateVersion: "25.11" }).files["file-systems.nix"]).toBeUndefined();
});
