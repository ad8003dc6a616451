# The units a simulated NixOS configuration (its config.json) wants running:
# { "<unit>": { "hash": <its configuration as JSON>, "reloadHash": <its reloadTriggers>, "reload": bool } }.
# A unit is identified by its configuration and the package it runs ($packages: unit -> ExecStart,
# the toplevel's unit-packages.json): a change of either restarts it (or reloads it, where NixOS reloads). A unit configured both by a module (services.caddy) and under systemd.services (its
# restart or reload triggers) is one unit, as on NixOS; a change to its reloadTriggers alone reloads it.
def unitname($n): if $n == "openssh" then "sshd.service" elif $n == "xserver" then "display-manager.service" else "\($n).service" end;
(((.services // {}) | to_entries | map(select((.value | type) == "object" and .value.enable == true))
   | map({ key: unitname(.key), hash: (.value | tojson), reloadHash: "", reload: (.key == "caddy" and (.value.enableReload // true)) }))
+ ((.systemd.services // {}) | to_entries | map(select(.value.enable != false))
   | map({ key: "\(.key).service", hash: (.value | del(.reloadTriggers) | tojson), reloadHash: ((.value.reloadTriggers // []) | tojson), reload: (.value.reloadIfChanged // false) })))
| group_by(.key)
| map({ key: .[0].key, value: { hash: (map(.hash) + [$packages[.[0].key] // empty] | join(" ")), reloadHash: (map(.reloadHash) | join("")), reload: any(.[]; .reload) } })
| from_entries
