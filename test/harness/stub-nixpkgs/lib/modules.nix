# A minimal NixOS module system: collects modules (attrsets, functions, paths, imports), pushes
# mkIf/mkMerge/priorities down to the declared options of the release's option table, rejects
# undeclared option paths and ill-typed values with NixOS's messages, and merges definitions
# (lists concatenate, lines join, attribute sets merge, other values must agree).
{ lib, table }:
let
  b = builtins;
  types = import ./types.nix { inherit pretty; };

  # --- showing definitions, as lib/options.nix showDefs does -------------------------------------
  pretty = v:
    if b.isString v then "\"${b.replaceStrings [ "\\" "\"" "\n" "\${" ] [ "\\\\" "\\\"" "\\n" "\\\${" ] v}\""
    else if b.isBool v then (if v then "true" else "false")
    else if v == null then "null"
    else if b.isInt v || b.isFloat v then b.toString v
    else if b.isPath v then b.toString v
    else if b.isFunction v then "<function>"
    else if b.isList v then "[ ${b.concatStringsSep " " (map pretty v)} ]"
    else if lib.isDerivation v then "<derivation ${v.name or "?"}>"
    else "{ ${b.concatStringsSep " " (map (n: "${n} = ${pretty v.${n}};") (b.attrNames v))} }";
  # As lib.showOption: a part that is no Nix identifier (a mount point) is quoted; <name> stays as it is.
  showOption = loc: b.concatStringsSep "." (map (p: if b.match "[a-zA-Z_][a-zA-Z0-9_'-]*|<.*>" p != null then p else b.toJSON p) loc);
  showDefs = defs: b.concatStringsSep "" (map (d: "\n- In `${d.file}': ${pretty d.value}") defs);

  # --- the declaration tree from the table -------------------------------------------------------
  splitPath = p: b.filter b.isString (b.split "\\." p);
  insert = tree: path: leaf:
    if path == [ ] then leaf
    else tree // { ${b.head path} = insert (tree.${b.head path} or { }) (b.tail path) leaf; };
  withOptions = b.foldl' (t: p: insert t (splitPath p) ({ _option = true; } // table.options.${p})) { } (b.attrNames table.options);
  freeformPaths = (table.freeform or [ ]) ++ map (s: "services.${s}") (table.services or [ ]);
  declTree = b.foldl' (t: p: insert t (splitPath p) ((lib.attrByPath (splitPath p) { } t) // { _freeform = true; })) withOptions freeformPaths;
  isOption = d: d ? _option;
  anything = { _option = true; type = "anything"; };

  # --- properties ---------------------------------------------------------------------------------
  # At a group of options: mkIf/mkMerge/mkOverride on a whole attrset are moved onto its attributes.
  pushDown = v:
    if (v._type or null) == "merge" then b.concatMap pushDown v.contents
    else if (v._type or null) == "if" then map (b.mapAttrs (_: x: lib.mkIf v.condition x)) (pushDown v.content)
    else if (v._type or null) == "override" then map (b.mapAttrs (_: x: lib.mkOverride v.priority x)) (pushDown v.content)
    else [ v ];
  # At an option: conditions are evaluated, priorities and order kept.
  discharge = prio: order: v:
    if (v._type or null) == "merge" then b.concatMap (discharge prio order) v.contents
    else if (v._type or null) == "if" then
      (if b.isBool v.condition then (if v.condition then discharge prio order v.content else [ ])
       else throw "mkIf called with a non-Boolean condition")
    else if (v._type or null) == "override" then discharge v.priority order v.content
    else if (v._type or null) == "order" then discharge prio v.priority v.content
    else [ { priority = prio; inherit order; value = v; } ];

  # --- merging ------------------------------------------------------------------------------------
  # node: { value (lazy config value); defined (has a definition after mkIf); dump (defined part only) }
  node = loc: decl: defs:
    if isOption decl then optionNode loc decl defs else groupNode loc decl defs;

  groupNode = loc: decl: defs:
    let
      pushed = b.concatMap (d: map (value: { inherit (d) file; inherit value; }) (pushDown d.value)) defs;
      notAttrs = b.filter (d: !(b.isAttrs d.value) || lib.isDerivation d.value) pushed;
      byName = b.zipAttrsWith (_: ds: ds) (map (d: b.mapAttrs (_: value: { inherit (d) file; inherit value; }) d.value) pushed);
      wildcard = decl ? "<name>";
      declared = b.filter (n: n != "<name>" && n != "_freeform") (b.attrNames decl);
      names = lib.unique (declared ++ b.attrNames byName);
      child = n:
        let ds = byName.${n} or [ ]; in
        if decl ? ${n} && n != "_freeform" then node (loc ++ [ n ]) decl.${n} ds
        else if wildcard then node (loc ++ [ n ]) decl."<name>" ds
        else if decl ? _freeform then node (loc ++ [ n ]) anything ds
        else
          let msg = "The option `${showOption (loc ++ [ n ])}' does not exist. Definition values:${showDefs [ (b.head ds) ]}";
          in { value = throw msg; defined = true; dump = throw msg; };
      children = lib.genAttrs names child;
      definedNames = b.filter (n: children.${n}.defined) names;
      # `x = { };` defines x (NixOS declares `users.groups.sshd = { };`); under mkIf false it does not.
      present = v:
        if (v._type or null) == "merge" then b.any present v.contents
        else if (v._type or null) == "if" then v.condition && present v.content
        else if (v._type or null) == "override" || (v._type or null) == "order" then present v.content
        else true;
    in
    if notAttrs != [ ] then
      let d = b.head notAttrs; msg = "A definition for option `${showOption loc}' is not of type `attribute set'. Definition values:${showDefs [ d ]}";
      in { value = throw msg; defined = true; dump = throw msg; }
    else {
      value = b.mapAttrs (_: c: c.value) children;
      nodes = children;
      defined = definedNames != [ ] || b.any (d: present d.value) defs;
      dump = lib.genAttrs definedNames (n: children.${n}.dump);
    };

  optionNode = loc: opt: defs:
    let
      discharged = b.concatMap (d: map (x: x // { inherit (d) file; }) (discharge 100 1000 d.value)) defs;
      best = b.foldl' (m: d: if d.priority < m then d.priority else m) 9999 discharged;
      kept = b.sort (x: y: x.order < y.order) (b.filter (d: d.priority == best) discharged);
      checked = map (d:
        if types.check opt.type d.value then d
        else throw "A definition for option `${showOption loc}' is not of type `${types.describe opt.type}'. Definition values:${showDefs [ d ]}") kept;
      value =
        if kept == [ ] then
          (if opt ? default then opt.default
           else if opt.defaultName or false then b.elemAt loc (b.length loc - 2)
           else types.emptyValue opt.type (throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option."))
        else types.merge showDefs loc opt.type checked;
    in { inherit value; defined = kept != [ ]; dump = value; };

  # --- collecting modules -------------------------------------------------------------------------
  evalModules = { modules, specialArgs ? { } }:
    let
      # definedConfig: what the modules define (mkIf false left out), per top-level attribute, so that
      # one option can depend on what is defined under another (NixOS does it per submodule).
      args = { inherit lib config; options = { }; definedConfig = b.mapAttrs (_: c: c.dump) root.nodes; } // specialArgs;
      load = file: m:
        let
          f = if b.isPath m || b.isString m then import m else m;
          file' = if b.isPath m || b.isString m then b.toString m else file;
          fargs = if b.isFunction f then b.functionArgs f else { };
          # Like NixOS: a module function gets exactly the arguments it names (all, for `args: ...`).
          r = if b.isFunction f then f (if fargs == { } then args else b.intersectAttrs fargs args) else f;
          structured = r ? config || r ? options;
        in {
          file = r._file or file';
          imports = r.imports or [ ];
          config = if structured then (r.config or { }) else b.removeAttrs r [ "_file" "key" "imports" "disabledModules" "meta" ];
          options = r.options or { };
        };
      collect = file: ms: b.concatMap (m:
        let l = load file m; in [ l ] ++ collect l.file l.imports) ms;
      loaded = collect "<unknown-file>" modules;
      declaresOptions = b.filter (l: l.options != { }) loaded;
      root = node [ ] declTree (map (l: { inherit (l) file; value = l.config; }) loaded);
      config = root.value;
    in
    if declaresOptions != [ ] then
      throw "module `${(b.head declaresOptions).file}' declares options; the simulated nixpkgs only knows the options of its table"
    else { inherit config; definedConfig = root.dump; };
in
{ inherit evalModules showDefs pretty; }
