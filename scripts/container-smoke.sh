#!/bin/sh
# Build sigbot's container image with buildah (no daemon) and run a smoke test
# inside it.  docs/container.md says what works on which machine and why.
#
#   scripts/container-smoke.sh            as root; prints each step and its time
#
# The base image, in this order:
#   - $BASE, when set (any Debian bookworm image with python3 and its venv module);
#   - the Containerfile's default base (python:3.11-slim-bookworm), with PULL=1;
#   - localhost/sigbot-base:bookworm, built earlier by this script;
#   - else that local base is made now with debootstrap, about 90 s, from the
#     Debian mirror this machine's apt uses ($DEBIAN_MIRROR to choose another).
# Other settings: IMAGE (default localhost/sigbot:smoke); STORAGE_DRIVER (e.g.
# vfs where overlay is not available); BUILD_CA_BUNDLE, a CA bundle mounted
# into the build's RUN steps only (never into the image) where a proxy
# re-signs TLS; it defaults to the host pip's own ($PIP_CERT).
set -eu
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/sigbot:smoke}
OFFICIAL=$(sed -n 's/^ARG BASE=//p' Containerfile)
LOCAL_BASE=localhost/sigbot-base:bookworm
BUILD_CA_BUNDLE=${BUILD_CA_BUNDLE-${PIP_CERT:-}}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bot/__init__.py)  # the one place it is written

b() { buildah ${STORAGE_DRIVER:+--storage-driver "$STORAGE_DRIVER"} "$@"; }
say() { echo "container-smoke: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
step_start=$(date +%s)
took() { now=$(date +%s); say "$1 ($((now - step_start)) s)"; step_start=$now; }

command -v buildah >/dev/null || fail "buildah is not installed (Debian: apt-get install buildah)"

# The mirror apt is set up with here (deb822 sources, else the one-line format).
apt_mirror() {
    sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 | grep . \
        || sed -n 's/^deb \([^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1
}

make_local_base() {
    mirror=${DEBIAN_MIRROR:-$(apt_mirror)}
    [ -n "$mirror" ] || fail "no Debian mirror in apt's sources: set DEBIAN_MIRROR"
    command -v debootstrap >/dev/null || fail "no base image and no debootstrap (Debian: apt-get install debootstrap)"
    root=$(mktemp -d)
    say "making $LOCAL_BASE with debootstrap in $root"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
        "$mirror" >"$root.log" 2>&1 \
        || { tail -5 "$root.log" >&2; fail "debootstrap"; }
    # What a slim image leaves out: package caches and lists, documentation, translations.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
    tar -C "$root" -cf "$root.tar" .
    ctr=$(b from scratch)
    b add "$ctr" "$root.tar" / >/dev/null
    b config --env LANG=C.UTF-8 --cmd /bin/bash "$ctr"
    b commit --rm "$ctr" "$LOCAL_BASE" >/dev/null
    rm -rf "$root" "$root.tar" "$root.log"
}

if [ -n "${BASE:-}" ]; then
    base=$BASE
elif [ "${PULL:-0}" = 1 ] && b pull -q "$OFFICIAL" >/dev/null 2>&1; then
    base=$OFFICIAL
elif b inspect --type image "$LOCAL_BASE" >/dev/null 2>&1; then
    base=$LOCAL_BASE
else
    say "no base image here (PULL=1 pulls $OFFICIAL): making a local Debian base"
    make_local_base
    base=$LOCAL_BASE
fi
took "base image: $base"

# --format docker: the OCI image format has no HEALTHCHECK; --isolation chroot:
# RUN steps need no cgroups or runtime (see docs/container.md).
set -- --format docker --isolation chroot --build-arg BASE="$base" -f Containerfile -t "$IMAGE"
if [ -n "$BUILD_CA_BUNDLE" ]; then
    set -- "$@" --volume "$BUILD_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro"
fi
b bud "$@" . >&2 || fail "buildah bud"
took "built $IMAGE ($(b images --format '{{.Size}}' "$IMAGE"))"

# The image's settings, as an engine would read them.
b inspect --type image "$IMAGE" | python3 -c '
import json, sys
c = json.load(sys.stdin)["Docker"]["config"]
want = {"User": "sigbot", "Entrypoint": ["sigbot"], "Cmd": ["--config", "/data/sigbot.toml", "run"],
        "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}}}
wrong = {k: c.get(k) for k, v in want.items() if c.get(k) != v}
assert not wrong, wrong
assert "healthz" in " ".join(c["Env"]) and c["Healthcheck"]["Test"][0] == "CMD", c.get("Healthcheck")
' || fail "image settings"
healthcheck=$(b inspect --type image --format '{{range $i, $a := .Docker.Config.Healthcheck.Test}}{{if $i}}{{printf "%q " $a}}{{end}}{{end}}' "$IMAGE")

# Commands run in a working container of the image, as its user, with chroot
# isolation (no cgroups needed); the ENTRYPOINT is checked above.
ctr=$(b from "$IMAGE")
trap 'b rm "$ctr" >/dev/null 2>&1 || true' EXIT
run() { b run --isolation chroot "$ctr" -- "$@"; }

out=$(run sh -c 'id -u; sigbot --version')
[ "$(echo "$out" | head -1)" != 0 ] || fail "runs as root"
echo "$out" | grep -qx "sigbot, version $VERSION" || fail "sigbot --version said: $out"
run sh -c 'for tool in gcc cc make git; do command -v $tool && exit 1; done; exit 0' >/dev/null \
    || fail "a build tool is left in the image"
took "sigbot $VERSION runs as uid $(echo "$out" | head -1); no compiler in the image"

out=$(run env SIGBOT_MATRIX_PASSWORD=smoke sigbot check-config /usr/local/share/sigbot/sigbot.example.toml 2>&1) \
    || fail "check-config: $out"
took "check-config: $out"

out=$(run sh -c 'set -e; log=$(python3 -c "from bot.core.resources import data_dir; print(min(data_dir(\"samples\").glob(\"*.log.txt\")))")
    sigbot notes replay "$log" --out /tmp/replay >/dev/null; ls /tmp/replay; grep -c "" /tmp/replay/*.md' 2>&1) \
    || fail "notes replay: $out"
took "notes replay of a bundled sample: $(echo "$out" | tr '\n' ' ')"

# The HEALTHCHECK's own command against a web server in the container: the
# archive site alone (`sigbot serve`) has /healthz too, and needs no homeserver.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(run sh -c "sigbot serve --notes /tmp/replay --out /tmp/site --listen 127.0.0.1:$port >/tmp/serve.log 2>&1 &
    server=\$!
    check() { SIGBOT_HEALTH_URL=http://127.0.0.1:$port/\$1 $healthcheck 2>/dev/null; }
    for i in \$(seq 100); do check healthz && break; sleep 0.2; done
    if check healthz; then echo healthy; else echo unhealthy; cat /tmp/serve.log; fi
    if check nowhere; then echo 'passed on a 404'; fi
    kill \$server" 2>&1)
[ "$out" = healthy ] || fail "healthcheck: $out"
took "HEALTHCHECK command: $out on /healthz, fails on a 404"
say "OK: $IMAGE"
