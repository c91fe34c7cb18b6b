#!/bin/sh
# attest_interop.sh MRUN - signed provenance verifies with tools that are not mrun, for ECDSA P-256 and Ed25519:
# (a) openssl on the DSSE PAE bytes (the commands of docs/supply-chain.md), (b) sigstore-js (@sigstore/verify,
# @sigstore/bundle from npm) on the Sigstore bundle; and mrun verify refuses one flipped byte in the artifact,
# the payload or the signature. Exit 0 pass, 1 fail, 77 skip (openssl, node or the npm registry missing: says which).
set -u
MRUN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/mrun-attest.XXXXXX)
trap 'rm -rf "$T"' EXIT
NPM_DIR=${MRUN_SIGSTORE_DIR:-/tmp/mrun-sigstore}
fail() {
    echo "FAIL attest_interop: $*" >&2
    [ -f "$T/out" ] && sed 's/^/  | /' "$T/out" >&2
    exit 1
}
command -v openssl >/dev/null 2>&1 || { echo "SKIP attest_interop: openssl is not installed"; exit 77; }
cd "$T" || exit 1
echo "hello artifact" >app.bin
head -c 3000 /dev/urandom >src.tar
SRC=$(sha256sum src.tar | cut -c1-64)
BUILDER=https://ci.example.com/mrun/coordinator/1

# JSON string field of compact mrun output, without jq (jq gives the same: jq -r .payload)
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1; }

# the PAE bytes of envelope $1 into $2 (docs/supply-chain.md, "openssl")
pae() {
    field payload "$1" | base64 -d >"$T/payload.json" || return 1
    ptype=$(field payloadType "$1")
    printf 'DSSEv1 %d %s %d ' "${#ptype}" "$ptype" "$(wc -c <"$T/payload.json")" >"$2"
    cat "$T/payload.json" >>"$2"
    field sig "$1" | base64 -d >"$T/sig.bin"
}

openssl_verify() { # TYPE PAE
    if [ "$1" = ecdsa-p256 ]; then
        openssl dgst -sha256 -verify "$T/k.pub" -signature "$T/sig.bin" "$2"
    else
        openssl pkeyutl -verify -pubin -inkey "$T/k.pub" -rawin -in "$2" -sigfile "$T/sig.bin"
    fi
}

flip_byte() { # FILE OFFSET: xor one byte with 0x01
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

for type in ecdsa-p256 ed25519; do
    rm -f k.key k.pub
    "$MRUN" keys generate --type "$type" --output k >"$T/out" 2>&1 || fail "$type: keys generate"
    [ "$(stat -c %a k.key)" = 600 ] || fail "$type: k.key is not 0600"
    "$MRUN" keys generate --type "$type" --output k >"$T/out" 2>&1 && fail "$type: overwrote an existing key"
    "$MRUN" attest app.bin --key k.key --builder-id "$BUILDER" --source "$SRC" --output env.json >"$T/out" 2>&1 ||
        fail "$type: attest"
    "$MRUN" attest app.bin --key k.key --builder-id "$BUILDER" --source "$SRC" --bundle --output bundle.json \
        >"$T/out" 2>&1 || fail "$type: attest --bundle"

    # mrun's own verdicts
    for att in env.json bundle.json; do
        "$MRUN" verify app.bin --attestation $att --key k.pub --expect-source "sha256:$SRC" \
            --expect-builder "$BUILDER" >"$T/out" 2>&1 || fail "$type: mrun verify $att"
    done
    "$MRUN" verify app.bin --attestation env.json --key k.pub --expect-builder https://other/ >"$T/out" 2>&1
    [ $? = 1 ] && grep -q "FAILED (builder)" "$T/out" || fail "$type: wrong builder accepted"
    cp app.bin bad.bin && flip_byte bad.bin 3
    "$MRUN" verify bad.bin --attestation env.json --key k.pub >"$T/out" 2>&1
    [ $? = 1 ] && grep -q "FAILED (subject)" "$T/out" || fail "$type: flipped artifact byte accepted"
    # a flipped byte inside the signed payload (re-encoded, so the JSON stays well-formed)
    pae env.json pae.bin || fail "$type: cannot rebuild the PAE"
    cp payload.json evil.json && flip_byte evil.json 40
    sed "s|\"payload\":\"[^\"]*\"|\"payload\":\"$(base64 -w0 evil.json)\"|" env.json >tampered.json
    "$MRUN" verify app.bin --attestation tampered.json --key k.pub >"$T/out" 2>&1
    [ $? = 1 ] && grep -q "FAILED (signature)" "$T/out" || fail "$type: flipped payload byte accepted"
    cp sig.bin evil.sig && flip_byte evil.sig 10
    sed "s|\"sig\":\"[^\"]*\"|\"sig\":\"$(base64 -w0 evil.sig)\"|" env.json >tampered.json
    "$MRUN" verify app.bin --attestation tampered.json --key k.pub >"$T/out" 2>&1
    [ $? = 1 ] && grep -q "FAILED (signature)" "$T/out" || fail "$type: flipped signature byte accepted"

    # (a) openssl on the PAE bytes, for the envelope and for the bundle's envelope
    for att in env.json bundle.json; do
        pae $att pae.bin || fail "$type: cannot rebuild the PAE of $att"
        openssl_verify "$type" pae.bin >"$T/out" 2>&1 || fail "$type: openssl does not verify $att"
        flip_byte pae.bin 30
        openssl_verify "$type" pae.bin >"$T/out" 2>&1 && fail "$type: openssl verified a flipped PAE byte"
    done
    [ "$type" = ecdsa-p256 ] && { openssl asn1parse -inform DER -in sig.bin >/dev/null 2>&1 ||
        fail "ECDSA signature is not DER"; }
    cp bundle.json "bundle-$type.json" && cp k.pub "k-$type.pub"
    echo "ok: $type: mrun verify, tamper refusals, openssl"
done

# encrypted keys: passphrase from the environment or a file, never stored or printed; a wrong one is refused
PASS="s3cret-pass phrase"
MRUN_TEST_PASS=$PASS "$MRUN" keys generate --output enc --passphrase-env MRUN_TEST_PASS >"$T/out" 2>&1 ||
    fail "keys generate --passphrase-env"
grep -q "BEGIN ENCRYPTED PRIVATE KEY" enc.key || fail "enc.key is not encrypted"
grep -q "s3cret" enc.key "$T/out" && fail "the passphrase appears in the key file or the output"
openssl pkey -in enc.key -passin pass:"$PASS" -noout 2>/dev/null || fail "openssl cannot decrypt enc.key"
"$MRUN" attest app.bin --key enc.key --builder-id "$BUILDER" --output e.json >"$T/out" 2>&1
[ $? = 1 ] && grep -q "is encrypted" "$T/out" || fail "an encrypted key was used without its passphrase"
MRUN_TEST_PASS=wrong "$MRUN" attest app.bin --key enc.key --passphrase-env MRUN_TEST_PASS --builder-id "$BUILDER" \
    --output e.json >"$T/out" 2>&1
[ $? = 1 ] && grep -q "wrong passphrase" "$T/out" || fail "a wrong passphrase was accepted"
printf '%s\n' "$PASS" >pass.txt
"$MRUN" attest app.bin --key enc.key --passphrase-file pass.txt --builder-id "$BUILDER" --output e.json \
    >"$T/out" 2>&1 || fail "attest with --passphrase-file"
"$MRUN" verify app.bin --attestation e.json --key enc.pub >"$T/out" 2>&1 || fail "verify with the encrypted key's pub"
echo "ok: encrypted keys"

# (b) sigstore-js, installed from npm once into $NPM_DIR
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    { echo "SKIP attest_interop (sigstore-js part): node/npm not installed; the openssl part passed"; exit 77; }
if [ ! -d "$NPM_DIR/node_modules/@sigstore/verify" ]; then
    mkdir -p "$NPM_DIR"
    timeout 180 npm install --prefix "$NPM_DIR" --no-audit --no-fund @sigstore/verify@3 @sigstore/bundle@4 \
        >"$T/npm.log" 2>&1 ||
        { echo "SKIP attest_interop (sigstore-js part): npm cannot install @sigstore/verify (registry unreachable?)"
          tail -3 "$T/npm.log"; exit 77; }
fi
for type in ecdsa-p256 ed25519; do
    NODE_PATH="$NPM_DIR/node_modules" node "$HERE/attest_verify.js" "bundle-$type.json" "k-$type.pub" app.bin \
        >"$T/out" 2>&1 || fail "$type: sigstore-js does not verify the bundle"
    NODE_PATH="$NPM_DIR/node_modules" node "$HERE/attest_verify.js" "bundle-$type.json" "k-$type.pub" bad.bin \
        >"$T/out" 2>&1 && fail "$type: sigstore-js accepted another artifact"
    sig=$(field sig "bundle-$type.json")
    cp "bundle-$type.json" evil-bundle.json
    printf '%s' "$sig" | base64 -d >evil.sig && flip_byte evil.sig 12
    sed -i "s|\"sig\":\"[^\"]*\"|\"sig\":\"$(base64 -w0 evil.sig)\"|" evil-bundle.json
    NODE_PATH="$NPM_DIR/node_modules" node "$HERE/attest_verify.js" evil-bundle.json "k-$type.pub" app.bin \
        >"$T/out" 2>&1 && fail "$type: sigstore-js accepted a flipped signature byte"
    echo "ok: $type: sigstore-js (@sigstore/verify) verifies the bundle and refuses tampering"
done
exit 0
