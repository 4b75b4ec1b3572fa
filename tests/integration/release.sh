#!/usr/bin/env bash
# Signed releases, checked with the stock tools from Debian: `ingot keygen`; a server refusing
# a key file others can read; `ingot release publish` (files, and a ref's tree) with the sign
# scope; immutability (409, and a lost-answer retry that is not an error); the routes under
# /v1/releases and /v1/keys; `minisign -V` + `sha256sum -c` and `signify -C` on what the
# server serves; `ingot release fetch` and `verify`; a changed artifact, a changed SHA256SUMS,
# a changed SHA256.sig list, an edited trusted comment and a wrong key each failing with each
# tool that reads them and with `ingot release verify`; yank (admin, still verifiable); the
# audit log; and key rotation (new releases signed by the new key, old ones still verifying
# with the old one).
source "$(dirname "$0")/lib.sh"

MINISIGN=$(command -v minisign || true)
SIGNIFY=$(command -v signify-openbsd || command -v signify || true)
if [[ -z $MINISIGN || -z $SIGNIFY ]]; then
  echo "SKIP [release]: minisign and signify-openbsd are needed (scripts/deps.sh installs them)" >&2
  exit 77
fi

KEYS="$TMP/keys"
DATA="$TMP/data"

# expect_fail NAME CMD...: the command must exit non-zero; its output goes to $TMP/NAME.out.
expect_fail() {
  local name=$1
  shift
  if "$@" >"$TMP/$name.out" 2>&1; then
    fail "$name: '$*' succeeded; expected a failure"
  fi
  ok "$name: fails ($(tail -n1 "$TMP/$name.out" | head -c 160))"
}

expect_ok() {
  local name=$1
  shift
  "$@" >"$TMP/$name.out" 2>&1 || fail "$name: '$*' exited $?: $(tail -n5 "$TMP/$name.out")"
  ok "$name"
}

step "ingot keygen writes a secret key (0600), a minisign/signify key and a Nix key"
"$INGOT" keygen --name rel1 --out "$KEYS" >"$TMP/keygen.out" || fail "keygen exited $?"
[[ $(stat -c %a "$KEYS/rel1.key") == 600 ]] || fail "rel1.key has mode $(stat -c %a "$KEYS/rel1.key")"
head -n1 "$KEYS/rel1.pub" | grep -q '^untrusted comment: ' || fail "rel1.pub: $(cat "$KEYS/rel1.pub")"
grep -Eq '^rel1:[A-Za-z0-9+/]{43}=$' "$KEYS/rel1.nix.pub" || fail "rel1.nix.pub: $(cat "$KEYS/rel1.nix.pub")"
KEY1_ID=$(sed -n 's/^key ID //p' "$TMP/keygen.out")
expect_fail keygen-again "$INGOT" keygen --name rel1 --out "$KEYS"
"$INGOT" keygen --name other --out "$KEYS" >/dev/null || fail "keygen other exited $?"

step "a key file others can read is refused at start-up"
cp "$KEYS/rel1.key" "$TMP/loose.key" && chmod 0644 "$TMP/loose.key"
expect_fail loose-key "$INGOT" serve --data "$TMP/unused" --listen 127.0.0.1:0 --signing-key "$TMP/loose.key"
grep -q "chmod 600" "$TMP/loose-key.out" || fail "the refusal does not say chmod 600: $(cat "$TMP/loose-key.out")"

step "publish needs the sign scope; a release is signed, listed and served"
PUBLISHER=$(token_create "$DATA" read,write,sign publisher)
WRITER=$(token_create "$DATA" read,write writer)
ADMIN=$(token_create "$DATA" admin root)
start_server "$DATA" --signing-key "$KEYS/rel1.key"
ART="$TMP/artifacts"
mkdir -p "$ART"
random_file "$ART/app.tar" 300000
echo "release notes" >"$ART/NOTES.txt"
expect_fail no-sign "$INGOT" release publish --server "$URL" --token "$WRITER" --project demo --version 1.0 "$ART/app.tar"
grep -q 403 "$TMP/no-sign.out" || fail "publish without the sign scope: $(cat "$TMP/no-sign.out")"
"$INGOT" release publish --server "$URL" --token "$PUBLISHER" --project demo --version 1.0 --json \
  "$ART/app.tar" "$ART/NOTES.txt" >"$TMP/record.json" || fail "release publish exited $?"
expect_json "$TMP/record.json" "j['project'] == 'demo' and j['version'] == '1.0' and j['key_id'] == '$KEY1_ID' and sorted(a['name'] for a in j['artifacts']) == ['NOTES.txt', 'app.tar'] and j['published_by'] == 'publisher' and j['yanked'] is None" \
  "the published record"
ok "published demo 1.0, signed by $KEY1_ID"

step "releases are immutable: 409, except for a retry of the very same publish"
"$INGOT" release publish --server "$URL" --token "$PUBLISHER" --project demo --version 1.0 --json \
  "$ART/app.tar" "$ART/NOTES.txt" >"$TMP/again.json" || fail "the same publish again exited $?"
[[ $(json "$TMP/again.json" "j['created_unix']") == $(json "$TMP/record.json" "j['created_unix']") ]] ||
  fail "the same publish again made a new record"
echo changed >"$TMP/NOTES.txt"
expect_fail other-content "$INGOT" release publish --server "$URL" --token "$PUBLISHER" --project demo --version 1.0 "$ART/app.tar" "$TMP/NOTES.txt"
grep -q "immutable" "$TMP/other-content.out" || fail "no word of immutability: $(cat "$TMP/other-content.out")"
expect 409 PUT /v1/releases/demo/1.0 -H "Authorization: Bearer $PUBLISHER" \
  --data "{\"artifacts\":[{\"name\":\"x\",\"digest\":\"$(sha256 "$ART/app.tar")/300000\"}]}"
expect 400 PUT /v1/releases/demo/1.1 -H "Authorization: Bearer $PUBLISHER" \
  --data "{\"artifacts\":[{\"name\":\"x\",\"digest\":\"$(printf '%064d' 7)/5\"}]}"
grep -q "not stored" "$BODY" || fail "a missing artifact is not named: $(cat "$BODY")"
expect 400 PUT /v1/releases/demo/1.1 -H "Authorization: Bearer $PUBLISHER" \
  --data "{\"artifacts\":[{\"name\":\"../x\",\"digest\":\"$(sha256 "$ART/app.tar")/300000\"}]}"

step "the routes: versions, record, files, keys"
expect 200 GET /v1/releases/demo
expect_json "$BODY" "[v['version'] for v in j['versions']] == ['1.0'] and j['versions'][0]['yanked'] is False" "versions"
expect 200 GET /v1/keys
expect_json "$BODY" "[(k['id'], k['status']) for k in j['keys']] == [('$KEY1_ID', 'active')] and j['keys'][0]['minisign'] == open('$KEYS/rel1.pub').read()" "keys"
STOCK="$TMP/stock"
mkdir -p "$STOCK"
for f in SHA256SUMS SHA256SUMS.minisig SHA256.sig app.tar NOTES.txt; do
  expect 200 GET "/v1/releases/demo/1.0/$f"
  cp "$BODY" "$STOCK/$f"
done
expect 404 GET /v1/releases/demo/1.0/nothing
expect 404 GET /v1/releases/demo/9.9

step "stock tools verify what the server serves"
(cd "$STOCK" && "$MINISIGN" -Vm SHA256SUMS -p "$KEYS/rel1.pub" && sha256sum -c SHA256SUMS) >"$TMP/minisign.out" 2>&1 ||
  fail "minisign -V && sha256sum -c: $(cat "$TMP/minisign.out")"
grep -q "project:demo" "$TMP/minisign.out" || fail "minisign shows no trusted comment naming the project: $(cat "$TMP/minisign.out")"
ok "minisign -V and sha256sum -c: $(grep -c ': OK' "$TMP/minisign.out") files OK"
(cd "$STOCK" && "$SIGNIFY" -C -p "$KEYS/rel1.pub" -x SHA256.sig) >"$TMP/signify.out" 2>&1 ||
  fail "signify -C: $(cat "$TMP/signify.out")"
ok "signify -C: $(tr '\n' ' ' <"$TMP/signify.out")"

step "ingot release fetch and verify"
expect_ok fetch "$INGOT" release fetch --server "$URL" demo 1.0 --out "$TMP/fetched" --trusted-key "$KEYS/rel1.pub"
cmp -s "$TMP/fetched/app.tar" "$ART/app.tar" || fail "fetched app.tar differs"
expect_ok verify "$INGOT" release verify "$TMP/fetched" --trusted-key "$KEYS/rel1.pub"
grep -q "verified 2 files" "$TMP/verify.out" || fail "verify said: $(cat "$TMP/verify.out")"

# tampered NAME: a copy of the stock directory to damage.
tampered() {
  rm -rf "$TMP/t-$1"
  cp -r "$STOCK" "$TMP/t-$1"
  echo "$TMP/t-$1"
}

step "a changed artifact fails with sha256sum -c, signify -C and ingot release verify"
T=$(tampered artifact)
printf 'X' | dd of="$T/app.tar" bs=1 seek=100 conv=notrunc status=none
expect_fail sha256sum-artifact bash -c "cd '$T' && sha256sum -c SHA256SUMS"
expect_fail signify-artifact bash -c "cd '$T' && '$SIGNIFY' -C -p '$KEYS/rel1.pub' -x SHA256.sig"
expect_fail ingot-artifact "$INGOT" release verify "$T" --trusted-key "$KEYS/rel1.pub"
grep -q "app.tar" "$TMP/ingot-artifact.out" || fail "verify does not name app.tar"

step "a changed SHA256SUMS fails with minisign -V and ingot release verify"
T=$(tampered sums)
sed -i "s/^[0-9a-f]\{8\}/00000000/" "$T/SHA256SUMS"
expect_fail minisign-sums "$MINISIGN" -Vm "$T/SHA256SUMS" -p "$KEYS/rel1.pub"
expect_fail ingot-sums "$INGOT" release verify "$T" --trusted-key "$KEYS/rel1.pub"

step "a changed list in SHA256.sig fails with signify -C and ingot release verify"
T=$(tampered sig)
sed -i "s/= [0-9a-f]\{8\}/= 00000000/" "$T/SHA256.sig"
expect_fail signify-sig bash -c "cd '$T' && '$SIGNIFY' -C -p '$KEYS/rel1.pub' -x SHA256.sig"
expect_fail ingot-sig "$INGOT" release verify "$T" --trusted-key "$KEYS/rel1.pub"

step "an edited trusted comment fails with minisign -V and ingot release verify"
T=$(tampered comment)
sed -i "s/^trusted comment: timestamp:[0-9]*/trusted comment: timestamp:1/" "$T/SHA256SUMS.minisig"
cmp -s "$T/SHA256SUMS.minisig" "$STOCK/SHA256SUMS.minisig" && fail "the trusted comment was not edited"
expect_fail minisign-comment "$MINISIGN" -Vm "$T/SHA256SUMS" -p "$KEYS/rel1.pub"
expect_fail ingot-comment "$INGOT" release verify "$T" --trusted-key "$KEYS/rel1.pub"

step "another key fails with minisign -V, signify -C, ingot release verify and fetch"
expect_fail minisign-key "$MINISIGN" -Vm "$STOCK/SHA256SUMS" -p "$KEYS/other.pub"
expect_fail signify-key bash -c "cd '$STOCK' && '$SIGNIFY' -C -p '$KEYS/other.pub' -x SHA256.sig"
expect_fail ingot-key "$INGOT" release verify "$STOCK" --trusted-key "$KEYS/other.pub"
grep -q "$KEY1_ID" "$TMP/ingot-key.out" || fail "verify does not name the key that signed: $(cat "$TMP/ingot-key.out")"
cli fetch-key release fetch --server "$URL" demo 1.0 --out "$TMP/fetch-other" --trusted-key "$KEYS/other.pub"
expect_rc 4 "release fetch with another key (README: exit 4)"
cli verify-key release verify "$STOCK" --trusted-key "$KEYS/other.pub"
expect_rc 4 "release verify with another key"
[[ ! -e $TMP/fetch-other/app.tar ]] || fail "fetch downloaded artifacts before the signature checked out"

step "yank: admin only; the release stays served, listed as yanked, and verifiable"
expect_fail yank-publisher "$INGOT" release yank --server "$URL" --token "$PUBLISHER" demo 1.0
"$INGOT" release yank --server "$URL" --token "$ADMIN" demo 1.0 --reason "broken build" --json >"$TMP/yank.json" ||
  fail "yank exited $?"
expect_json "$TMP/yank.json" "j['yanked']['reason'] == 'broken build' and j['yanked']['by'] == 'root'" "the yanked record"
expect 200 GET /v1/releases/demo
expect_json "$BODY" "j['versions'][0]['yanked'] is True" "versions after the yank"
expect_ok fetch-yanked "$INGOT" release fetch --server "$URL" demo 1.0 --allow-yanked --out "$TMP/fetched-yanked" --trusted-key "$KEYS/rel1.pub"

step "a ref's tree published as a release keeps its paths"
mkdir -p "$TMP/tree/bin" "$TMP/tree/share/doc"
random_file "$TMP/tree/bin/tool" 5000
echo doc >"$TMP/tree/share/doc/README"
"$INGOT" push-tree --server "$URL" --token "$PUBLISHER" --ref builds/demo/2 --pin "$TMP/tree" >/dev/null ||
  fail "push-tree exited $?"
expect_ok publish-ref "$INGOT" release publish --server "$URL" --token "$PUBLISHER" --project demo --version 2.0 --ref builds/demo/2
expect_ok fetch-ref "$INGOT" release fetch --server "$URL" demo 2.0 --out "$TMP/fetched-ref" --trusted-key "$KEYS/rel1.pub"
(cd "$TMP/fetched-ref" && sha256sum -c SHA256SUMS && "$SIGNIFY" -C -p "$KEYS/rel1.pub" -x SHA256.sig) >"$TMP/ref-tools.out" 2>&1 ||
  fail "stock tools on a release with subdirectories: $(cat "$TMP/ref-tools.out")"
cmp -s "$TMP/fetched-ref/share/doc/README" "$TMP/tree/share/doc/README" || fail "share/doc/README differs"
ok "bin/tool and share/doc/README published, fetched and checked by sha256sum and signify"

step "the audit log records every publish and yank, for admins only"
expect 401 GET /v1/audit
expect 403 GET /v1/audit -H "Authorization: Bearer $PUBLISHER"
expect 200 GET /v1/audit -H "Authorization: Bearer $ADMIN"
python3 - "$BODY" "$(json "$TMP/record.json" "j['manifest_sha256']" | tr -d '"')" <<'PY' || fail "audit log: $(cat "$BODY")"
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1])]
got = [(e["action"], e["token"], e["project"], e["version"]) for e in entries]
want = [("publish", "publisher", "demo", "1.0"), ("yank", "root", "demo", "1.0"), ("publish", "publisher", "demo", "2.0")]
assert got == want, got
assert entries[0]["manifest_sha256"] == sys.argv[2], entries[0]
assert all(isinstance(e["time_unix"], int) for e in entries)
PY
ok "publish, yank, publish in order, with token names and the manifest digest"

step "rotation: a new key signs new releases; the old key stays published and its releases verify"
stop_server
"$INGOT" keygen --name rel2 --out "$KEYS" >"$TMP/keygen2.out" || fail "keygen rel2 exited $?"
KEY2_ID=$(sed -n 's/^key ID //p' "$TMP/keygen2.out")
start_server "$DATA" --signing-key "$KEYS/rel2.key" --signing-key "$KEYS/rel1.key"
expect 200 GET /v1/keys
expect_json "$BODY" "[(k['id'], k['status']) for k in j['keys']] == [('$KEY2_ID', 'active'), ('$KEY1_ID', 'retired')]" "keys after rotation"
expect_ok publish-3 "$INGOT" release publish --server "$URL" --token "$PUBLISHER" --project demo --version 3.0 "$ART/app.tar"
expect_ok fetch-3 "$INGOT" release fetch --server "$URL" demo 3.0 --out "$TMP/f3" --trusted-key "$KEYS/rel2.pub"
expect_fail fetch-3-old-key "$INGOT" release fetch --server "$URL" demo 3.0 --out "$TMP/f3-old" --trusted-key "$KEYS/rel1.pub"
expect_ok fetch-1-old-key "$INGOT" release fetch --server "$URL" demo 1.0 --allow-yanked --out "$TMP/f1" --trusted-key "$KEYS/rel1.pub"
(cd "$TMP/f1" && "$MINISIGN" -Vm SHA256SUMS -p "$KEYS/rel1.pub") >/dev/null 2>&1 || fail "minisign on 1.0 after rotation"
stop_server

step "a server without a signing key refuses to publish, saying how to give it one"
start_server "$DATA"
expect_fail no-key "$INGOT" release publish --server "$URL" --token "$PUBLISHER" --project demo --version 4.0 "$ART/app.tar"
grep -q -- "--signing-key" "$TMP/no-key.out" || fail "no hint: $(cat "$TMP/no-key.out")"
