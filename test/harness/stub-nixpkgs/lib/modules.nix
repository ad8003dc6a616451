# A minimal NixOS module system: collects modules (attrsets, functions, paths, imports), pushes
# mkIf/mkMerge/priorities down to the declared options of the release's option table and of the
# modules that declare their own (flake inputs' modules: lib.mkOption, submodules), rejects
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

  # --- declarations of modules --------------------------------------------------------------------
  # An option a module declares becomes a leaf as the table's; a submodule (alone or as the element of
  # attrsOf) a group made per attribute name from the submodule's own module (subNode). `ctx` holds
  # what loading the submodule's modules needs.
  isSubmodule = t: b.isAttrs t && t ? submodule;
  declOf = ctx: o:
    if (o._type or null) == "option" then
      let t = o.type or "anything"; in
      if isSubmodule t then { _submodule = t.submodule; inherit ctx; }
      else if b.isAttrs t && t ? attrsOf && isSubmodule t.attrsOf then { "<name>" = { _submodule = t.attrsOf.submodule; inherit ctx; }; }
      else { _option = true; type = t; } // lib.optionalAttrs (o ? default) { inherit (o) default; }
    else b.mapAttrs (_: declOf ctx) o;
  # Adds a module's declarations to the tree; an option declared twice fails as in NixOS.
  mergeDecl = loc: file: old: new:
    b.foldl' (acc: n:
      acc // {
        ${n} =
          if !(acc ? ${n}) then new.${n}
          else if isOption acc.${n} || isOption new.${n} || acc.${n} ? _submodule || new.${n} ? _submodule
          then throw "The option `${showOption (loc ++ [ n ])}' in `${file}' is already declared."
          else mergeDecl (loc ++ [ n ]) file acc.${n} new.${n};
      }) old (b.attrNames new);

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
    if isOption decl then optionNode loc decl defs
    else if decl ? _submodule then subNode loc decl defs
    else groupNode loc decl defs;

  # A submodule's value: the options its module declares (a function of its `name` and its own
  # `config`, as NixOS passes them; `config._module.args.name` too) with the definitions given to it.
  # A definition that is an attribute set is the submodule's config; a function or a path is a module
  # of its own (home-manager.users.<name> takes them so), as types.submodule merges them.
  subNode = loc: decl: defs:
    let
      name = b.elemAt loc (b.length loc - 1);
      config = self.value // { _module.args = { inherit name; }; };
      args = decl.ctx.args // { inherit name config; };
      own = decl.ctx.collect args "submodule ${showOption loc}" [ decl._submodule ];
      subDecl = b.foldl' (t: l: mergeDecl loc l.file t (declOf decl.ctx l.options)) { } own;
      given = b.concatMap (d:
        if b.isFunction d.value || b.isPath d.value then decl.ctx.collect args d.file [ d.value ] else [ { inherit (d) file; config = d.value; } ]) defs;
      self = groupNode loc subDecl (map (l: { inherit (l) file; value = l.config; }) (own ++ given));
    in self;

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
  load = args: file: m:
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
  collect = args: file: ms: b.concatMap (m:
    let l = load args file m; in [ l ] ++ collect args l.file l.imports) ms;

  evalModules = { modules, specialArgs ? { } }:
    let
      # definedConfig: what the modules define (mkIf false left out), per top-level attribute, so that
      # one option can depend on what is defined under another (NixOS does it per submodule).
      args = { inherit lib config; options = { }; definedConfig = b.mapAttrs (_: c: c.dump) root.nodes; } // specialArgs;
      loaded = collect args "<unknown-file>" modules;
      # The table's options and those the modules declare (a submodule's modules get the same arguments).
      ctx = { inherit args collect; };
      declared = b.foldl' (t: l: mergeDecl [ ] l.file t (declOf ctx l.options)) declTree loaded;
      root = node [ ] declared (map (l: { inherit (l) file; value = l.config; }) loaded);
      config = root.value;
    in { inherit config; definedConfig = root.dump; };
in
{ inherit evalModules showDefs pretty; }
