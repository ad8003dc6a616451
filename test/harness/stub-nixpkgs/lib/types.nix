# The option types of the table, as data: "bool", "str", "int", "port", "path", "lines", "package",
# "anything", "attrs", "float", "singleLineStr", or { listOf = T; } { attrsOf = T; } { nullOr = T; }
# { enum = [ ... ]; } { either = [ T1 T2 ]; }. Checks, descriptions (as NixOS prints them) and merges.
{ pretty }:
let
  b = builtins;
  isDrv = x: b.isAttrs x && (x.type or null) == "derivation";
  isStringLike = x: b.isString x || b.isPath x || (b.isAttrs x && x ? outPath);
  kind = t: if b.isString t then t else b.head (b.attrNames t);
  arg = t: t.${kind t};

  check = t: v:
    let k = kind t; in
    if k == "bool" then b.isBool v
    else if k == "str" then b.isString v
    else if k == "singleLineStr" then b.isString v && b.match "[^\n]*\n?" v != null
    else if k == "lines" then b.isString v
    else if k == "int" then b.isInt v
    else if k == "float" then b.isFloat v
    else if k == "port" then b.isInt v && v >= 0 && v <= 65535
    else if k == "path" then isStringLike v && b.substring 0 1 (b.toString v) == "/"
    else if k == "package" then isDrv v || isStringLike v
    else if k == "anything" || k == "unspecified" then true
    else if k == "attrs" then b.isAttrs v
    else if k == "listOf" then b.isList v && b.all (check (arg t)) v
    else if k == "attrsOf" then b.isAttrs v && !(isDrv v) && b.all (n: check (arg t) v.${n}) (b.attrNames v)
    else if k == "nullOr" then v == null || check (arg t) v
    else if k == "enum" then b.elem v (arg t)
    else if k == "either" then b.any (x: check x v) (arg t)
    else throw "stub nixpkgs: unknown option type `${b.toJSON t}' in the option table";

  describe = t:
    let k = kind t; in
    {
      bool = "boolean"; str = "string"; singleLineStr = "(optionally newline-terminated) single-line string";
      lines = "strings concatenated with \"\\n\""; int = "signed integer"; float = "floating point number";
      port = "16 bit unsigned integer; between 0 and 65535 (both inclusive)"; path = "absolute path";
      package = "package"; anything = "anything"; unspecified = "unspecified value"; attrs = "attribute set";
    }.${k} or (
      if k == "listOf" then "list of ${describe (arg t)}"
      else if k == "attrsOf" then "attribute set of ${describe (arg t)}"
      else if k == "nullOr" then "null or ${describe (arg t)}"
      else if k == "enum" then "one of ${b.concatStringsSep ", " (map pretty (arg t))}"
      else if k == "either" then b.concatStringsSep " or " (map describe (arg t))
      else k);

  # The value an option has without definitions, when the table gives no default.
  emptyValue = t: otherwise:
    let k = kind t; in
    if k == "listOf" then [ ]
    else if k == "attrsOf" || k == "attrs" then { }
    else if k == "nullOr" then null
    else if k == "lines" then ""
    else otherwise;

  conflict = showDefs: loc: defs: throw ''
    The option `${b.concatStringsSep "." loc}' has conflicting definition values:${showDefs defs}
    Use `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.'';

  # One definition is taken as is (as mergeEqualOption does), so functions need no comparison.
  mergeEqual = showDefs: loc: defs:
    let first = (b.head defs).value; in
    if b.length defs == 1 || b.all (d: d.value == first) defs then first else conflict showDefs loc defs;

  # defs: [ { file; value; } ] already checked against t.
  merge = showDefs: loc: t: defs:
    let k = kind t; vals = map (d: d.value) defs; in
    if k == "listOf" then b.concatLists vals
    else if k == "lines" then b.concatStringsSep "\n" vals
    else if k == "attrsOf" then
      b.zipAttrsWith (n: vs: merge showDefs (loc ++ [ n ]) (arg t) vs)
        (map (d: b.mapAttrs (_: value: { inherit (d) file; inherit value; }) d.value) defs)
    else if k == "nullOr" then
      (let nonNull = b.filter (d: d.value != null) defs; in
       if nonNull == [ ] then null
       else if b.length nonNull != b.length defs then conflict showDefs loc defs
       else merge showDefs loc (arg t) nonNull)
    else if k == "anything" || k == "attrs" then
      (if b.all (v: b.isAttrs v && !(isDrv v)) vals then
        b.zipAttrsWith (n: vs: merge showDefs (loc ++ [ n ]) "anything" vs)
          (map (d: b.mapAttrs (_: value: { inherit (d) file; inherit value; }) d.value) defs)
      else if b.all b.isList vals then b.concatLists vals
      else mergeEqual showDefs loc defs)
    else mergeEqual showDefs loc defs;
in
{ inherit check describe emptyValue merge; }
