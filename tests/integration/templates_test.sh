#!/bin/sh
# templates_test.sh MRUN CASE - `mrun init` end to end. CASE is a template name (the app it writes must pass the
# checks and then its own pipeline under `mrun run`, in real sandboxes) or "cli" (--list, refusals, suggestions,
# modes, no writing through symlinks). Exit 0 pass, 1 fail, 77 skip (no user namespaces, or no node for node-api).
#
# Built-in stages that this build does not register yet (other parts of mrun are written in parallel) are reported
# and their steps removed from the copy of the pipeline that is run; the test still fails on anything else.
set -u
MRUN=$1
CASE=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)

T=$(mktemp -d /tmp/mrun-tpltest.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL template_$CASE: $*" >&2
    [ -f "$T/out" ] && { echo "--- output ---" >&2; tail -n 80 "$T/out" >&2; }
    exit 1
}

# Each uses: name the pipeline parser does not know, probed with a stage that never runs.
missing_uses() {
    for u in $(sed -n 's/^ *- uses: *\([a-z0-9-]*\).*/\1/p' "$1" | sort -u); do
        rm -rf "$T/probe" && mkdir -p "$T/probe/.mrun"
        printf 'stages:\n  probe:\n    if: "event == '"'never'"'"\n    steps: [{uses: %s}]\n' "$u" >"$T/probe/.mrun/pipeline.yml"
        "$MRUN" run "$T/probe" 2>&1 | grep -q "unknown uses '$u'" && echo "$u"
    done
}

# Removes the steps `- uses: NAME` (and their `with:` line) of the given names from a pipeline file.
drop_uses() {
    file=$1
    shift
    for u in "$@"; do
        awk -v u="$u" '
            skip && /^ *with:/ { skip = 0; next }
            { skip = 0 }
            $0 ~ "^ *- uses: *" u "$" { skip = 1; next }
            { print }' "$file" >"$file.new" && mv "$file.new" "$file"
    done
}

case_cli() {
    "$MRUN" init --list >"$T/out" 2>&1 || fail "--list failed"
    for t in node-api python-api static-site; do
        grep -q "^  $t  *[A-Z]" "$T/out" || fail "--list does not show $t with a summary"
    done
    "$MRUN" init --template pyhton-api "$T/x" >"$T/out" 2>&1
    [ $? = 2 ] || fail "an unknown template did not exit 2"
    grep -q "unknown template 'pyhton-api' (did you mean 'python-api'?)" "$T/out" || fail "no suggestion"
    [ -e "$T/x" ] && fail "an unknown template created DIR"
    "$MRUN" init --template python-api --tier 3 "$T/x" >"$T/out" 2>&1 && fail "--tier 3 was accepted"
    "$MRUN" init --template python-api "$T/Bad_Name" >"$T/out" 2>&1 || fail "a fixable DIR name was refused"
    grep -q "app 'bad-name'" "$T/out" || fail "the app name is not derived from DIR"
    "$MRUN" init --template python-api --name 9lives "$T/y" >"$T/out" 2>&1 && fail "a bad --name was accepted"
    grep -q "bad app name '9lives'" "$T/out" || fail "no reason for a bad --name"

    # a non-empty directory is refused and left as it was; --force writes beside what is there
    mkdir -p "$T/busy" && echo mine >"$T/busy/notes.txt"
    "$MRUN" init --template static-site "$T/busy" >"$T/out" 2>&1
    [ $? = 1 ] || fail "a non-empty DIR was not refused"
    grep -q "is not empty.*--force" "$T/out" || fail "the refusal does not mention --force"
    [ "$(ls -A "$T/busy")" = notes.txt ] || fail "a refused init wrote into DIR"
    "$MRUN" init --template static-site --force "$T/busy" >"$T/out" 2>&1 || fail "--force failed"
    [ "$(cat "$T/busy/notes.txt")" = mine ] || fail "--force touched an unrelated file"
    [ -f "$T/busy/site/index.html" ] || fail "--force did not write the template"

    # --force never writes through a symlink, to a file or a directory: links are replaced or refused
    mkdir -p "$T/sym/.mrun" "$T/outside"
    echo secret >"$T/outside/victim"
    ln -s "$T/outside/victim" "$T/sym/README.md"
    ln -s "$T/outside" "$T/sym/scripts"
    "$MRUN" init --template python-api --force "$T/sym" >"$T/out" 2>&1 && fail "a symlinked directory was followed"
    [ "$(cat "$T/outside/victim")" = secret ] || fail "init wrote through a symlink"
    [ "$(ls "$T/outside")" = victim ] || fail "init created files through a symlinked directory"
    rm "$T/sym/scripts"
    "$MRUN" init --template python-api --force "$T/sym" >"$T/out" 2>&1 || fail "--force over a file symlink failed"
    [ -L "$T/sym/README.md" ] && fail "the README.md symlink was not replaced"
    [ "$(cat "$T/outside/victim")" = secret ] || fail "init wrote through a symlink"

    # modes are exact whatever the umask; placeholders are filled in text files
    (umask 077 && "$MRUN" init --template python-api --name modes --tier 2 "$T/m" >"$T/out" 2>&1) || fail "init failed"
    [ "$(stat -c %a "$T/m/scripts/build.sh")" = 755 ] || fail "scripts/build.sh is not 0755"
    [ "$(stat -c %a "$T/m/src/app.py")" = 644 ] || fail "src/app.py is not 0644"
    [ "$(stat -c %a "$T/m/src")" = 755 ] || fail "directories are not 0755"
    grep -q '^name: "modes"$' "$T/m/.mrun/pipeline.yml" || fail "{{app}} not substituted in the pipeline"
    grep -q '^tier: "2"$' "$T/m/.mrun/policy.yml" || fail "{{tier}} not substituted in the policy"
    grep -q 'two approvers' "$T/m/README.md" || fail "the README does not state tier 2's approval rules"

    # every file is the template's, byte for byte, once the placeholders are filled; nothing else is written
    python3 - "$SRC/templates/python-api" "$T/m" <<'PY' >"$T/out" 2>&1 || fail "the written app differs from its template"
import os, sys
src, out = sys.argv[1], sys.argv[2]
def files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
want = [f for f in files(src) if "__pycache__" not in f]
got = files(out)
if want != got:
    sys.exit(f"files differ: {sorted(set(want) ^ set(got))}")
for rel in want:
    a = open(os.path.join(src, rel), "rb").read().replace(b"{{app}}", b"modes").replace(b"{{tier}}", b"2")
    b = open(os.path.join(out, rel), "rb").read()
    if b"{{tier_rules}}" in a:
        head, tail = a.split(b"{{tier_rules}}", 1)
        ok = b.startswith(head) and b.endswith(tail)
    else:
        ok = a == b
    if not ok:
        sys.exit(f"{rel} differs")
print(len(want), "files match")
PY
}

case_template() {
    tpl=$1
    app="$T/apps/demo-$tpl"
    "$MRUN" init --template "$tpl" --tier 1 "$app" >"$T/out" 2>&1 || fail "init failed"
    for f in README.md .mrun/pipeline.yml .mrun/policy.yml infra/main.tf infra/variables.tf .pre-commit-config.yaml \
        .gitignore .mrunignore; do
        [ -f "$app/$f" ] || fail "the app has no $f"
    done
    grep -rlE '\{\{(app|tier|tier_rules)\}\}' "$app" >"$T/left" && fail "placeholders left in: $(cat "$T/left")"
    grep -q "^name: \"demo-$tpl\"$" "$app/.mrun/pipeline.yml" || fail "the pipeline is not named after the app"
    grep -q 'one approver' "$app/README.md" || fail "the README does not state tier 1's approval rules"
    for tag in owner cost_center '"cost-center"' 'app '; do
        grep -q "$tag" "$app/infra/main.tf" "$app/infra/variables.tf" || fail "infra/ lacks the $tag tag or variable"
    done
    grep -q 'block_public_acls *= true' "$app/infra/main.tf" || fail "infra/ has no public access block"
    if command -v terraform >/dev/null 2>&1; then
        terraform fmt -check -recursive "$app/infra" >"$T/out" 2>&1 || fail "infra/ is not valid, formatted HCL"
    fi

    # the checks a developer runs before pushing find nothing in a fresh app
    for c in secrets lint tests; do
        "$MRUN" scan "$c" "$app" >"$T/out" 2>&1 || fail "mrun scan $c has findings in a fresh app"
    done

    missing=$(missing_uses "$app/.mrun/pipeline.yml" | tr "\n" " ")
    if [ -n "${missing% }" ]; then
        echo "NOTE template_$tpl: not registered in this build, steps removed for this run: $missing"
        # shellcheck disable=SC2086
        drop_uses "$app/.mrun/pipeline.yml" $missing
    fi
    "$MRUN" run "$app" >"$T/out" 2>&1 || fail "the app's own pipeline failed"
    grep -q "passed" "$T/out" || fail "no 'passed' line"
    for stage in checks test build; do
        grep -q "$stage" "$T/out" || fail "stage $stage did not run"
    done
    case "$tpl" in
    python-api)
        grep -qE "Ran [0-9]+ tests" "$T/out" || fail "the unit tests did not run"
        grep -q "smoke: dist/demo-python-api.pyz: /healthz ok" "$T/out" || fail "the build's smoke test did not run"
        ;;
    node-api)
        grep -qE "(# |ℹ )pass [1-9]" "$T/out" || fail "the unit tests did not run"
        grep -q "smoke: .*/healthz ok" "$T/out" || fail "the build's smoke test did not run"
        ;;
    static-site)
        grep -q "every link resolves" "$T/out" || fail "the build did not check the links"
        grep -q "smoke: dist/ served on port [0-9]*: /healthz ok" "$T/out" || fail "the smoke test did not run"
        ;;
    esac
    case " $missing " in
    *" coverage-gate "*) ;;
    *) grep -q "coverage: [0-9.]*% of lines" "$T/out" && grep -q "meets min 80%" "$T/out" || fail "no coverage gate" ;;
    esac
    case " $missing " in *" sbom "*) ;; *) grep -q "wrote sbom.cdx.json" "$T/out" || fail "no SBOM written" ;; esac
    # the build's artifact carries signed provenance that mrun verify accepts (when this build signs)
    vargs=$(grep -A1 "provenance of stage build" "$T/out" | sed -n 's/^ *[^ ]*mrun verify //p')
    [ -n "$vargs" ] || fail "no verify line for the build's signed provenance"
    # shellcheck disable=SC2086
    "$MRUN" verify $vargs >"$T/vout" 2>&1 || { cat "$T/vout" >>"$T/out"; fail "the build's provenance does not verify"; }
    # as a pull request: the preview stage serves the built app through mrun run's proxy
    "$MRUN" run --event pull_request --keep-previews "$app" >"$T/pr" 2>&1 &
    pr=$!
    i=0; until grep -q "^preview of stage" "$T/pr" || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
    url=$(grep -o 'http://[^ ]*/preview/[^ ]*' "$T/pr" | head -1)
    code=$(curl -s -o /dev/null -w '%{http_code}' "${url}healthz")
    page=$(curl -s -o /dev/null -w '%{http_code}' "$url")
    kill -INT $pr 2>/dev/null
    wait $pr || { cat "$T/pr" >>"$T/out"; fail "the pull-request pipeline failed"; }
    [ "$code" = 200 ] || { cat "$T/pr" >>"$T/out"; fail "the preview's /healthz through the proxy answered $code"; }
    [ "$page" = 200 ] || { cat "$T/pr" >>"$T/out"; fail "the preview's own page (/) through the proxy answered $page"; }

    # node-api: a GPL dependency in the lockfile stops the pipeline, naming it (tier 1 denies strong copyleft)
    if [ "$tpl" = node-api ] && ! echo "$missing" | grep -q license-check; then
        python3 - "$app/package-lock.json" <<'PY' || fail "could not edit package-lock.json"
import json, sys
path = sys.argv[1]
lock = json.load(open(path))
lock["packages"][""]["dependencies"] = {"gpl-widget": "1.0.0"}
lock["packages"]["node_modules/gpl-widget"] = {"version": "1.0.0", "license": "GPL-3.0-only"}
json.dump(lock, open(path, "w"), indent=2)
PY
        "$MRUN" run "$app" >"$T/out" 2>&1 && fail "a pipeline with a GPL dependency passed"
        grep -q "gpl-widget" "$T/out" || fail "the license check did not name the GPL dependency"
        "$MRUN" init --template node-api --force "$app" >/dev/null 2>&1 || fail "init --force failed"
    fi

    # a planted credential stops the pipeline at its first stage
    if ! echo "$missing" | grep -q secret-scan; then
        printf 'aws_access_key_id = "AKIA%s"\n' "Z7QW4PLM2XKD9RTB" >"$app/leak.txt"
        "$MRUN" run "$app" >"$T/out" 2>&1 && fail "a pipeline with a planted AWS key passed"
        grep -q "aws-access-key-id" "$T/out" || fail "the secret scan did not name the finding"
    fi
}

# The generator (MRUN is gen_templates here): bytes survive the round trip through C, the template's .gitignore is
# honoured, and symlinks or a missing README.md are build errors.
case_gen() {
    command -v cc >/dev/null 2>&1 || { echo "SKIP template_gen: no C compiler"; exit 77; }
    mkdir -p "$T/src/good/sub/junk" "$T/src/bad" "$T/src/noreadme"
    printf '# {{app}}\n\nThe summary sentence. Not this one.\n' >"$T/src/good/README.md"
    python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) + b"??=\\\"\n{{app}}")' >"$T/src/good/sub/all.bin"
    printf 'junk/\n*.log\n' >"$T/src/good/.gitignore"
    echo x >"$T/src/good/sub/junk/left-out" && echo x >"$T/src/good/debug.log"
    printf '#!/bin/sh\n' >"$T/src/good/run.sh" && chmod 755 "$T/src/good/run.sh"
    "$MRUN" "$T/gen.c" "$T/src" good >"$T/out" 2>&1 || fail "the generator failed on a good template"
    grep -q 'left-out\|debug.log' "$T/gen.c" && fail "ignored files were embedded"
    cat >"$T/main.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "cli/templates.h"
int main(int argc, char **argv)
{
    (void)argc;
    const mrun_tpl *t = &mrun_tpl_all[0];
    printf("%s|%s|%zu\n", t->name, t->summary, t->n_files);
    for (size_t i = 0; i < t->n_files; i++) {
        fprintf(stderr, "%s %o %d\n", t->files[i].path, t->files[i].mode, t->files[i].text);
        if (strcmp(t->files[i].path, argv[1]) == 0)
            fwrite(t->files[i].data, 1, t->files[i].len, stdout);
    }
    return 0;
}
C
    cc -std=c11 -Wall -Werror -I"$SRC" -o "$T/dump" "$T/main.c" "$T/gen.c" >"$T/out" 2>&1 || fail "the output does not compile"
    "$T/dump" sub/all.bin >"$T/dumped" 2>"$T/list" || fail "dump failed"
    [ "$(head -n 1 "$T/dumped")" = "good|The summary sentence|4" ] || fail "bad header: $(head -n 1 "$T/dumped")"
    tail -c +"$(($(head -n 1 "$T/dumped" | wc -c) + 1))" "$T/dumped" | cmp - "$T/src/good/sub/all.bin" ||
        fail "bytes changed in the round trip"
    grep -q '^run.sh 755 1$' "$T/list" || fail "run.sh is not 0755 text: $(cat "$T/list")"
    grep -q '^sub/all.bin 644 0$' "$T/list" || fail "all.bin is not 0644 binary"
    ln -s /etc/passwd "$T/src/bad/passwd" && echo '# x' >"$T/src/bad/README.md"
    "$MRUN" "$T/gen2.c" "$T/src" bad >"$T/out" 2>&1 && fail "a symlink in a template was accepted"
    grep -q "passwd: templates hold only files and directories" "$T/out" || fail "no reason for the symlink"
    [ -e "$T/gen2.c" ] || [ -e "$T/gen2.c.tmp" ] && fail "a failed run left output behind"
    echo x >"$T/src/noreadme/a"
    "$MRUN" "$T/gen3.c" "$T/src" noreadme >"$T/out" 2>&1 && fail "a template without README.md was accepted"
    grep -q "no README.md" "$T/out" || fail "no reason for the missing README"
}

[ "$CASE" = gen ] && { case_gen; echo "ok template_gen"; exit 0; }
unshare -U true 2>/dev/null || [ "$(id -u)" = 0 ] || { echo "SKIP: no user namespaces"; exit 77; }
case "$CASE" in
cli) case_cli ;;
node-api)
    command -v node >/dev/null 2>&1 || { echo "SKIP template_node-api: node is not installed"; exit 77; }
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=11)?0:1)' ||
        { echo "SKIP template_node-api: node $(node --version) has no lcov test reporter (needs 20.11+)"; exit 77; }
    case_template node-api
    ;;
python-api | static-site) case_template "$CASE" ;;
*) fail "unknown case" ;;
esac
echo "ok template_$CASE"
