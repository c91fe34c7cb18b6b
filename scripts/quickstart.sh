#!/bin/sh
# The main job: set up, build, run a hello-world inside the sandbox (showing what it cannot do), then scaffold the
# python-api template into a temporary folder and run its whole pipeline with `mrun run` (embedded coordinator and
# runner, every step sandboxed) as a pull request: checks, tests with a coverage gate, build, SBOM, signed
# provenance, and a live preview of the app served through mrun's proxy until Ctrl-C (or at once without a terminal).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo
echo '$ mrun sandbox --mem 256M --timeout 30s -- sh -c "..."'
./build/mrun sandbox --mem 256M --timeout 30s --json /dev/stderr -- /bin/sh -c '
echo "hello from $(hostname), uid $(id -u) in here, working in $(pwd)"
echo "capabilities: $(grep CapEff /proc/self/status | cut -f2), seccomp mode $(grep "^Seccomp:" /proc/self/status | cut -f2)"
echo "network interfaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")"
touch /usr/evil 2>/dev/null && echo "wrote to /usr!" || echo "/usr is read-only"
ls /home /root 2>/dev/null && echo "host files visible!" || echo "no host home directories"
echo "processes visible: $(ls /proc | grep -c "^[0-9]")"
'
app=$(mktemp -d /tmp/mrun-quickstart.XXXXXX)/shop-api
echo
echo "\$ mrun init --template python-api $app"
./build/mrun init --template python-api "$app"
echo
echo "\$ mrun run --event pull_request $app     # as a pull request: the pipeline ends with a live preview"
echo "  (open the preview link it prints in a browser, or curl it; Ctrl-C stops the preview)"
exec ./build/mrun run --event pull_request "$app"
