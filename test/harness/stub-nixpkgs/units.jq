# The units a simulated NixOS configuration (its config.json) wants running:
# { "<unit>": { "hash": <its configuration as JSON>, "reload": bool } }. A unit is identified by its
# configuration: a changed configuration restarts it (or reloads it, where NixOS reloads).
def unitname($n): if $n == "openssh" then "sshd.service" elif $n == "xserver" then "display-manager.service" else "\($n).service" end;
((.services // {}) | to_entries | map(select((.value | type) == "object" and .value.enable == true))
   | map({ key: unitname(.key), value: { hash: (.value | tojson), reload: (.key == "caddy" and (.value.enableReload // true)) } }))
+ ((.systemd.services // {}) | to_entries | map(select(.value.enable != false))
   | map({ key: "\(.key).service", value: { hash: (.value | tojson), reload: (.value.reloadIfChanged // false) } }))
| from_entries
