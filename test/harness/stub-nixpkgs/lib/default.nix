# The part of nixpkgs' lib that rendered modules use: properties (mkIf, mkMerge, priorities, order),
# list/attrset/string helpers and version comparison. Same names and semantics as nixpkgs lib.
{ release }:
let
  b = builtins;
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOrder = priority: content: { _type = "order"; inherit priority content; };
  foldl' = b.foldl';
  foldr = op: nul: list: let len = b.length list; go = n: if n == len then nul else op (b.elemAt list n) (go (n + 1)); in go 0;
  genAttrs = names: f: b.listToAttrs (map (n: { name = n; value = f n; }) names);
  recursiveUpdate = lhs: rhs:
    lhs // b.mapAttrs (n: v: if b.isAttrs v && b.isAttrs (lhs.${n} or null) then recursiveUpdate lhs.${n} v else v) rhs;
  unique = foldl' (acc: x: if b.elem x acc then acc else acc ++ [ x ]) [ ];
  flatten = x: if b.isList x then b.concatMap flatten x else [ x ];
  version = "${release}.20250101.0000000";
  lib = rec {
    inherit foldl' foldr genAttrs recursiveUpdate unique flatten version mkOverride mkOrder;
    inherit (b) attrNames attrValues concatMap concatLists concatStringsSep elem filter head tail
      length listToAttrs mapAttrs hasAttr isAttrs isList isString isBool isInt isFunction toJSON
      fromJSON replaceStrings stringLength substring toString;
    inherit release;
    trivial = { inherit release version; id = x: x; const = x: _: x; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkDefault = mkOverride 1000;
    mkOptionDefault = mkOverride 1500;
    mkForce = mkOverride 50;
    mkVMOverride = mkOverride 10;
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: as: if cond then as else { };
    optionalString = cond: s: if cond then s else "";
    mapAttrsToList = f: as: map (n: f n as.${n}) (b.attrNames as);
    mapAttrs' = f: as: b.listToAttrs (mapAttrsToList f as);
    nameValuePair = name: value: { inherit name value; };
    filterAttrs = pred: as: b.listToAttrs (b.concatMap (n: if pred n as.${n} then [ { name = n; value = as.${n}; } ] else [ ]) (b.attrNames as));
    concatMapStringsSep = sep: f: xs: b.concatStringsSep sep (map f xs);
    concatMapStrings = f: xs: b.concatStringsSep "" (map f xs);
    concatStrings = b.concatStringsSep "";
    escapeShellArg = s: "'${b.replaceStrings [ "'" ] [ "'\\''" ] (b.toString s)}'";
    escapeShellArgs = xs: b.concatStringsSep " " (map escapeShellArg xs);
    toLower = b.replaceStrings (b.genList (i: b.substring i 1 "ABCDEFGHIJKLMNOPQRSTUVWXYZ") 26) (b.genList (i: b.substring i 1 "abcdefghijklmnopqrstuvwxyz") 26);
    hasPrefix = p: s: b.substring 0 (b.stringLength p) s == p;
    hasSuffix = p: s: let ls = b.stringLength s; lp = b.stringLength p; in lp <= ls && b.substring (ls - lp) lp s == p;
    versionAtLeast = v1: v2: b.compareVersions v1 v2 >= 0;
    versionOlder = v1: v2: b.compareVersions v1 v2 < 0;
    attrByPath = path: default: set:
      if path == [ ] then set
      else if set ? ${b.head path} then attrByPath (b.tail path) default set.${b.head path} else default;
    setAttrByPath = path: value: if path == [ ] then value else { ${b.head path} = setAttrByPath (b.tail path) value; };
    getAttrFromPath = path: set: attrByPath path (throw "cannot find attribute `${b.concatStringsSep "." path}'") set;
    strings = { inherit escapeShellArg concatStringsSep hasPrefix hasSuffix toLower; };
    attrsets = { inherit recursiveUpdate filterAttrs mapAttrsToList genAttrs attrByPath setAttrByPath; };
    lists = { inherit optional optionals unique flatten; };
    isDerivation = x: b.isAttrs x && (x.type or null) == "derivation";
    # Option declarations for modules that declare their own (flake inputs' modules): the types are the
    # option table's, as data (types.nix), submodules as { submodule = module; } (modules.nix).
    mkOption = attrs: { _type = "option"; } // attrs;
    mkEnableOption = name: mkOption { type = "bool"; default = false; description = "Whether to enable ${name}."; };
    types = {
      bool = "bool"; str = "str"; lines = "lines"; int = "int"; port = "port"; path = "path"; package = "package";
      anything = "anything"; attrs = "attrs"; raw = "anything"; unspecified = "anything"; singleLineStr = "singleLineStr";
      listOf = t: { listOf = t; }; attrsOf = t: { attrsOf = t; }; nullOr = t: { nullOr = t; };
      enum = values: { enum = values; }; either = t1: t2: { either = [ t1 t2 ]; }; submodule = m: { submodule = m; };
    };
    # An activation snippet after others, as NixOS's lib.stringAfter.
    stringAfter = deps: text: { inherit deps text; };
    getName = x: if b.isString x then (b.parseDrvName x).name else x.pname or (b.parseDrvName x.name).name;
  };
in
lib
