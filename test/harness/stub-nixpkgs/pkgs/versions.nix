# Package versions of the stub per release, so that two generations built from different releases
# differ as `nix store diff-closures` shows it. Plausible for each release, not checked package by
# package against its branch. `pinned` packages (the services, openssh, the kernels, systemd) also
# move with the nixpkgs pin (see pkgs.nix); the rest keep the release's version.
let
  common = {
    jellyfin-web = "10.10.7"; jellyfin-ffmpeg = "7.1.1-3"; bash = "5.2p37"; bash-interactive = "5.2p37";
    coreutils = "9.7"; curl = "8.13.0"; git = "2.49.0"; htop = "3.4.1"; jq = "1.7.1"; vim = "9.1.1336";
    wget = "1.25.0"; tmux = "3.5a"; mesa = "25.0.7"; libva = "2.22.0"; intel-media-driver = "25.1.4";
    vaapiVdpau = "0.7.4"; edid-decode = "0-unstable-2025-04-04"; xcvt = "0.1.3"; xorg-server = "21.1.16";
    gnome-shell = "48.2"; gdm = "48.0"; shadow = "4.17.4"; xf86videodummy = "0.4.1"; xf86videonv = "2.1.23";
    xrandr = "1.5.3"; xorgserver = "21.1.16";
  };
in
{
  "25.05" = common // {
    jellyfin = "10.10.6"; radarr = "5.22.4.9896"; sonarr = "4.0.14.2939"; prowlarr = "1.35.1.5034";
    jellyseerr = "2.5.2"; seerr = "2.5.2"; sunshine = "2025.122.141614"; caddy = "2.9.1"; openssh = "10.0p2";
    linux = "6.12.30"; linux_latest = "6.14.8"; linux_6_6 = "6.6.92"; linux_6_12 = "6.12.30"; systemd = "257.5";
  };
  "25.11" = common // {
    jellyfin = "10.10.7"; radarr = "5.26.2.10099"; sonarr = "4.0.15.2941"; prowlarr = "2.0.5.5160";
    jellyseerr = "2.7.3"; seerr = "2.7.3"; sunshine = "2025.628.4510"; caddy = "2.10.2"; openssh = "10.2p1";
    coreutils = "9.8"; curl = "8.16.0"; git = "2.51.0";
    linux = "6.12.58"; linux_latest = "6.17.8"; linux_6_6 = "6.6.116"; linux_6_12 = "6.12.58"; systemd = "258.2";
  };
  "26.05" = common // {
    jellyfin = "10.11.5"; radarr = "6.0.4.10291"; sonarr = "4.0.16.2944"; prowlarr = "2.1.5.5216";
    jellyseerr = "3.0.1"; seerr = "3.0.1"; sunshine = "2026.116.1"; caddy = "2.11.1"; openssh = "10.2p1";
    coreutils = "9.9"; curl = "8.18.0"; git = "2.53.0";
    linux = "6.18.12"; linux_latest = "6.19.3"; linux_6_6 = "6.6.127"; linux_6_12 = "6.12.74"; systemd = "259.1";
  };
  "26.11" = common // {
    jellyfin = "10.11.8"; radarr = "6.1.1.10360"; sonarr = "4.0.17.2952"; prowlarr = "2.3.0.5236";
    jellyseerr = "3.1.0"; seerr = "3.1.0"; sunshine = "2026.516.2"; caddy = "2.11.2"; openssh = "10.3p1";
    coreutils = "9.9"; curl = "8.19.0"; git = "2.54.0";
    linux = "6.18.30"; linux_latest = "7.0.6"; linux_6_6 = "6.6.140"; linux_6_12 = "6.12.88"; systemd = "260.1";
  };
}
