# Sourced by deb_roundtrip.sh and systemd_boot.sh: the package under test, a
# work dir under build/work (kept when a check fails, or with KEEP=1), and a
# debootstrapped Debian root, fetched once and cached.
#
# The sourcing script defines ok, fail and stop_what_runs (called on exit
# before the work dir goes), then calls `debroot_setup NAME [PATH.deb]`.
# Environment: KEEP=1, SUITE and MIRROR (what debootstrap fetches).

debroot_setup() {
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    local arch
    arch=$(dpkg --print-architecture)
    version=$(sed -n "s/^__version__ = ['\"]\(.*\)['\"]/\1/p" "$top/appliance/__init__.py")
    deb=${2:-$top/build/deb/iso8583d_${version}_${arch}.deb}
    SUITE=${SUITE:-bookworm}
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    mkdir -p "$top/build/work"
    work=$(mktemp -d "$top/build/work/$1.XXXXXX")
    root=$work/root
    trap debroot_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

debroot_cleanup() {
    local status=$?
    stop_what_runs
    if [ "${KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}

# debroot_copy BASE [PACKAGES]: $root becomes a copy of a minbase root of
# $SUITE (with PACKAGES, comma-separated), debootstrapped into BASE once.
debroot_copy() {
    local base=$1 include=${2:-} started
    if [ ! -x "$base/usr/bin/dpkg" ]; then
        echo "debootstrap --variant=minbase ${include:+--include=$include }$SUITE (once; cached in $base)"
        rm -rf "$base.tmp"
        started=$(date +%s)
        timeout 900 debootstrap --variant=minbase ${include:+--include="$include"} \
            "$SUITE" "$base.tmp" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
            { tail -20 "$work/debootstrap.log"; fail "debootstrap failed (log above)"; }
        mv "$base.tmp" "$base"
        echo "     debootstrap took $(( $(date +%s) - started )) s"
    fi
    cp -a "$base" "$root"
}
