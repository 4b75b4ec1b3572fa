# The closure bench/nix/run copies: `top`, whose closure is SMALL small paths, one path
# holding a file of BIG_BYTES random bytes, and `top` itself. Input-addressed derivations
# (builder /bin/sh, no nixpkgs), so that require-sigs applies to every path: a path with a
# valid CA field would pass unsigned.
#
# The small paths come in layers of 25; path i refers to paths i-25, i-24 and i-23 (those
# that exist), so each layer depends on the one below and the graph is a DAG of depth
# SMALL/25, not a chain (a chain would force `nix copy` to fetch one path at a time). `top`
# refers to the big path and to every small path nobody else refers to. A small path is one
# file of about 1 KiB: its references, then text unique to it.
{ small ? 498, bigBytes ? 16777216, salt ? "" }:
let
  sh = "/bin/sh";
  system = builtins.currentSystem;
  env = { PATH = "/usr/bin:/bin"; };
  mk = i:
    let refs = builtins.filter (j: j >= 0) [ (i - 25) (i - 24) (i - 23) ];
    in derivation (env // {
      name = "bench-${toString i}";
      inherit system;
      builder = sh;
      deps = map (j: paths.${toString j}) refs;
      n = toString i;
      inherit salt;
      args = [ "-c" ''
        { echo "$deps"; i=0; while [ $i -lt 16 ]; do
            echo "bench path $n line $i salt $salt: the quick brown fox jumps over the lazy dog"; i=$((i+1)); done; } > $out
      '' ];
    });
  paths = builtins.listToAttrs (map (i: { name = toString i; value = mk i; })
    (builtins.genList (i: i) small));
  big = derivation (env // {
    name = "bench-big";
    inherit system salt;
    builder = sh;
    n = toString bigBytes;
    args = [ "-c" "mkdir $out && head -c $n /dev/urandom > $out/random" ];
  });
in derivation (env // {
  name = "bench-top";
  inherit system salt;
  builder = sh;
  deps = [ big ] ++ map (j: paths.${toString j})
    (builtins.filter (j: j + 23 >= small) (builtins.genList (i: i) small));
  args = [ "-c" ''echo "$deps" > $out'' ];
})
