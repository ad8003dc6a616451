# Replaced in the per-rebuild copy by the nixos-rebuild stand-in.
{ release = "25.11"; fault = null; }
