#!/bin/bash
# Install, upgrade, remove and purge the iso8583d .deb in a throwaway Debian
# root (`make deb-test`). Needs root and debootstrap.
#
#   tests/smoke/deb_roundtrip.sh [PATH.deb]
#
# The root is a debootstrap --variant=minbase of bookworm (made once, cached
# in build/work/debootstrap-bookworm, copied fresh for every run), so the
# maintainer scripts really run inside it (dpkg --root chroots into it) with
# only what a minimal Debian has: useradd from passwd, no systemd running.
#
# Checks: dpkg -i succeeds with the declared Depends; the iso8583d system user
# and /var/lib/iso8583d exist; conf.d is 0750 and its drop-ins 0640, both
# root:iso8583d (the daemon's user reads them, other users cannot); the
# installed unit rates 2.5 or below in systemd-analyze security; the installed binary runs in the root (the
# shipped conf.d is valid, a pemda runs as the iso8583d user, writes its
# database and stops on SIGTERM with exit 0); reinstalling keeps an edited
# conffile; an upgrade with a changed conffile keeps the edit (new version in
# *.dpkg-dist, which the loader ignores) and updates an unedited one, and
# leaves conf.d not world-readable: the old 0644 of an edited drop-in and the
# replaced one are 0640 again, while modes the admin chose (on a shipped file,
# by dpkg-statoverride, on a drop-in of their own) are kept; dpkg -r
# leaves the conffiles; dpkg --purge removes them; installing again after a
# purge (the user already there) succeeds.
#
# Environment: KEEP=1 keeps the root; SUITE, MIRROR pick what debootstrap
# fetches; BASE is the cached root.
set -euo pipefail
. "$(dirname "$0")/debroot.sh"

daemon_pid=
passed=0

stop_what_runs() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL -- "-$daemon_pid" 2>/dev/null || kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
}

ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }
in_root() { timeout 60 chroot "$root" "$@"; }
dpkg_root() { timeout 300 dpkg --root="$root" --force-confold "$@"; }
# Ports no pytest, bench or smoke run beside this one is handed
# (tests/fixtures/ports.py): `reserve_ports N` sets ${ports[@]}, N ports of one
# block, and this shell holds the block's lock on fd 9 until it exits (so it
# is called as is, not in $(...), and once).
ports_py="$(cd "$(dirname "$0")/../fixtures" && pwd)/ports.py"
reserve_ports() {
    local answer _
    for _ in 1 2 3 4 5; do
        answer=$(/usr/bin/python3 "$ports_py" "$1")    # it has exited: the lock is free
        read -r -a ports <<<"$answer"
        exec 9<"${ports[-1]}"
        unset 'ports[-1]'
        if flock -n 9; then return; fi
        exec 9<&-           # taken by another process meanwhile: ask again
    done
    fail "no test ports: tests/fixtures/ports.py found none whose block could be locked"
}
# mode_is PATH 'UID:GID MODE': numeric, the host's names for these ids are not the root's.
mode_is() {
    local got
    got=$(stat -c '%u:%g %a' "$root$1")
    [ "$got" = "$2" ] || fail "$1 is $got, want $2"
}
status_of() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' iso8583d 2>/dev/null || true; }

debroot_setup deb-roundtrip "${1:-}"
BASE=${BASE:-$top/build/work/debootstrap-$SUITE}
[ -f "$deb" ] || fail "$deb is missing: run \`make deb\` first"

# What the package holds, before anything is installed.
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/iso8583d ./usr/bin/iso8583d-client ./lib/systemd/system/iso8583d@.service \
            ./etc/iso8583d/conf.d/10-pemda.ini ./etc/iso8583d/conf.d/20-bank.ini; do
    grep -q " $path\( \|$\)" <<<"$contents" || fail "dpkg-deb -c: $path is missing"
done
ok "dpkg-deb -c lists /usr/bin/iso8583d, iso8583d-client, iso8583d@.service and the conf.d drop-ins"

[ "$(id -u)" = 0 ] || fail "needs root (dpkg --root, chroot)"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"

# -- the throwaway root ----------------------------------------------------------
debroot_copy "$BASE"
ok "fresh $SUITE minbase root ($(du -sh "$root" | cut -f1)), no systemd running in it"

# -- install ---------------------------------------------------------------------
dpkg_root -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }
[ "$(status_of)" = "install ok installed" ] || fail "status after install: $(status_of)"
ok "dpkg --root -i $(basename "$deb")"

entry=$(in_root getent passwd iso8583d) || fail "no iso8583d user"
IFS=: read -r _ _ uid gid _ home shell <<<"$entry"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/iso8583d ] && [ "$shell" = /usr/sbin/nologin ] ||
    fail "iso8583d user is not a system user: $entry"
ok "system user: $entry"
# Numeric: the host's names for these ids are not the root's.
[ "$(stat -c '%u:%g %a' "$root/var/lib/iso8583d")" = "$uid:$gid 750" ] ||
    fail "/var/lib/iso8583d: $(stat -c '%u:%g %a' "$root/var/lib/iso8583d") (want $uid:$gid 750)"
ok "/var/lib/iso8583d is iso8583d:iso8583d 750"
[ "$(readlink "$root/usr/bin/iso8583d-client")" = iso8583d ] || fail "iso8583d-client is not a symlink"
# The seed's command names: symlinks to the binary, each answering --help as itself.
for name in iso8583 iso8583_web_client iso8583_web_client_linkaja iso8583_bjb_pbb_initdb \
            iso8583_bjb_pbb_test_aggregator_initdb init_db_linkaja; do
    [ "$(readlink "$root/usr/bin/$name")" = iso8583d ] || fail "/usr/bin/$name is not a symlink to iso8583d"
done
ok "the seed's commands are symlinks to iso8583d: iso8583, iso8583_web_client(_linkaja), the three initdb"
conffiles=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}\n' iso8583d | awk 'NF {print $1}')
[ "$(echo "$conffiles" | wc -l)" -ge 2 ] && echo "$conffiles" | grep -qx /etc/iso8583d/conf.d/10-pemda.ini ||
    fail "conffiles: $conffiles"
ok "conffiles: $(echo $conffiles)"
mode_is /etc/iso8583d/conf.d "0:$gid 750"
for conffile in $conffiles; do mode_is "$conffile" "0:$gid 640"; done
if in_root setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/iso8583d/conf.d/20-bank.ini \
    >/dev/null 2>&1; then
    fail "user nobody can read /etc/iso8583d/conf.d/20-bank.ini"
fi
ok "conf.d is root:iso8583d 750, its $(echo "$conffiles" | wc -l) drop-ins root:iso8583d 640: user nobody cannot read them"
[ -f "$root/lib/systemd/system/iso8583d@.service" ] || fail "no unit"
if command -v systemd-analyze >/dev/null; then
    # The unit as installed, with ExecStart pointed at the root's binary.
    sed "s|/usr/bin/iso8583d|$root/usr/bin/iso8583d|" "$root/lib/systemd/system/iso8583d@.service" \
        >"$work/iso8583d@pemda.service"
    out=$(cd "$work" && systemd-analyze verify --man=no "$work/iso8583d@pemda.service" 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify: $out"
    ok "systemd-analyze verify iso8583d@pemda.service: no complaints"
    out=$(cd "$work" && systemd-analyze security --offline=yes --no-pager iso8583d@pemda.service 2>&1)
    score=$(sed -n 's/^.*Overall exposure level for [^:]*: \([0-9.]*\).*$/\1/p' <<<"$out")
    [ -n "$score" ] || fail "systemd-analyze security: $out"
    awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' ||
        fail "systemd-analyze security rates the installed unit $score, above 2.5: $(grep '✗' <<<"$out")"
    ok "systemd-analyze security --offline=yes iso8583d@pemda.service: $score (2.5 or below)"
fi

# -- the installed binary, inside the root ------------------------------------------
out=$(in_root env -i PATH=/usr/bin:/bin /usr/bin/iso8583d --version) || fail "--version: $out"
[ "$out" = "iso8583d $version" ] || fail "--version printed $out"
ok "chroot: /usr/bin/iso8583d --version -> $out"
for pair in iso8583:iso8583d iso8583_web_client:iso8583d-client \
            iso8583_web_client_linkaja:'iso8583d-client linkaja' iso8583_bjb_pbb_initdb:iso8583_bjb_pbb_initdb \
            iso8583_bjb_pbb_test_aggregator_initdb:iso8583_bjb_pbb_test_aggregator_initdb \
            init_db_linkaja:init_db_linkaja; do
    name=${pair%%:*}
    out=$(in_root env -i PATH=/usr/bin:/bin "$name" --help) || fail "$name --help: $out"
    grep -q "^usage: ${pair#*:} " <<<"$out" || fail "$name --help: $(head -2 <<<"$out")"
done
ok "chroot: the seed's commands run (--help of the command each stands for)"
for role in pemda bank aggregator; do
    out=$(in_root env -i PATH=/usr/bin:/bin /usr/bin/iso8583d --role "$role" --check-config) ||
        fail "--role $role --check-config: $out"
done
ok "chroot: the shipped /etc/iso8583d/conf.d is valid for pemda, bank, aggregator"
# The daemon's user reads what the package made root:iso8583d.
as_daemon() { in_root setpriv --reuid="$uid" --regid="$gid" --clear-groups env -i PATH=/usr/bin:/bin "$@"; }
for role in pemda bank aggregator; do
    out=$(as_daemon /usr/bin/iso8583d --role "$role" --check-config 2>&1) ||
        fail "as iso8583d: --role $role --check-config: $out"
done
ok "chroot, user iso8583d: --check-config reads the shipped conf.d for every role"

# A pemda as the iso8583d user: a database in /var/lib/iso8583d, nobody to connect to.
reserve_ports 2
port=${ports[0]}
admin_port=${ports[1]}     # not [admin]'s 7002: other daemons on this host may hold it
mkdir -p "$root/tmp/pemda.d"
sed -e 's/^#\([^ #]\)/\1/' -e 's/^#\(    bit\)/\1/' -e "s/^port = 10002/port = $port/" \
    -e "s/^port = 7002/port = $admin_port/" \
    -e 's|^db_url = .*|db_url = sqlite:///pemda.db|' -e 's/^#*demo = false/demo = true/' \
    "$root/etc/iso8583d/conf.d/10-pemda.ini" >"$root/tmp/pemda.d/10-pemda.ini"
chmod -R a+rX "$root/tmp/pemda.d"
setsid chroot --userspec=iso8583d:iso8583d "$root" env -i PATH=/usr/bin:/bin \
    /usr/bin/iso8583d --role pemda --conf-dir /tmp/pemda.d --data-dir /var/lib/iso8583d \
    >"$work/pemda.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    grep -q "Connect to 127.0.0.1 port $port" "$work/pemda.log" && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "Connect to 127.0.0.1 port $port" "$work/pemda.log" || { cat "$work/pemda.log"; fail "pemda did not start"; }
kill -TERM "$daemon_pid"
code=0
timeout 15 tail --pid="$daemon_pid" -f /dev/null || fail "pemda did not exit within 15 s of SIGTERM"
wait "$daemon_pid" || code=$?
daemon_pid=
[ "$code" = 0 ] || { cat "$work/pemda.log"; fail "pemda exited $code after SIGTERM"; }
[ "$(stat -c %u "$root/var/lib/iso8583d/pemda.db")" = "$uid" ] || fail "pemda.db owner"
ok "chroot, user iso8583d: pemda created /var/lib/iso8583d/pemda.db, SIGTERM -> exit 0"

# -- reinstall keeps an edited conffile ------------------------------------------------
conf=$root/etc/iso8583d/conf.d/10-pemda.ini
echo "# edited by the admin" >>"$conf"
dpkg_root -i "$deb" >"$work/reinstall.log" 2>&1 || { cat "$work/reinstall.log"; fail "reinstall"; }
grep -qx "# edited by the admin" "$conf" || fail "reinstall lost the edit of 10-pemda.ini"
ok "reinstall of the same .deb keeps the edited 10-pemda.ini"

# -- upgrade: a newer package whose conffiles changed -------------------------------------
# What the upgrade must leave as it finds it: an admin's own drop-in (0644,
# they chose it), a shipped one they made 0440, one under dpkg-statoverride.
# And what it must tighten: the edited 10-pemda.ini as 0.1.0 left it (0644).
site=$root/etc/iso8583d/conf.d/50-site.ini
echo '# the site settings, not shipped' >"$site"
chmod 0644 "$site"
chmod 0440 "$root/etc/iso8583d/conf.d/30-aggregator.ini"
in_root dpkg-statoverride --update --add root root 0644 /etc/iso8583d/conf.d/00-readme.ini
chown 0:0 "$conf"
chmod 0644 "$conf"
new=$work/upgrade
mkdir -p "$new"
dpkg-deb -R "$deb" "$new/root"
sed -i "s/^Version: .*/Version: ${version}+roundtrip1/" "$new/root/DEBIAN/control"
echo "# changed in the next version" >>"$new/root/etc/iso8583d/conf.d/10-pemda.ini"
echo "# changed in the next version" >>"$new/root/etc/iso8583d/conf.d/20-bank.ini"
(cd "$new/root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
dpkg-deb --root-owner-group -Zgzip --build "$new/root" "$new/iso8583d_upgrade.deb" >/dev/null
dpkg_root -i "$new/iso8583d_upgrade.deb" >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "upgrade"; }
grep -qx "# edited by the admin" "$conf" || fail "upgrade lost the edit of 10-pemda.ini"
grep -qx "# changed in the next version" "$conf.dpkg-dist" || fail "no 10-pemda.ini.dpkg-dist"
grep -qx "# changed in the next version" "$root/etc/iso8583d/conf.d/20-bank.ini" ||
    fail "the unedited 20-bank.ini was not updated"
in_root env -i PATH=/usr/bin:/bin /usr/bin/iso8583d --role pemda --check-config |
    grep -q 'configuration OK' || fail "--check-config after the upgrade"
ok "upgrade to ${version}+roundtrip1: edited 10-pemda.ini kept (new one in .dpkg-dist, ignored by the loader), unedited 20-bank.ini updated"
mode_is /etc/iso8583d/conf.d "0:$gid 750"
mode_is /etc/iso8583d/conf.d/10-pemda.ini "0:$gid 640"
mode_is /etc/iso8583d/conf.d/20-bank.ini "0:$gid 640"
ok "after the upgrade conf.d is root:iso8583d 750; 10-pemda.ini (0644 before) and the replaced 20-bank.ini are root:iso8583d 640"
mode_is /etc/iso8583d/conf.d/50-site.ini "0:0 644"
mode_is /etc/iso8583d/conf.d/30-aggregator.ini "0:$gid 440"
mode_is /etc/iso8583d/conf.d/00-readme.ini "0:0 644"
ok "after the upgrade the admin's modes are kept: own 50-site.ini 644, 30-aggregator.ini 440, 00-readme.ini 644 by dpkg-statoverride"
out=$(as_daemon /usr/bin/iso8583d --role pemda --check-config 2>&1) || fail "as iso8583d after the upgrade: $out"
in_root dpkg-statoverride --remove /etc/iso8583d/conf.d/00-readme.ini
rm "$site"

# -- remove, purge, install again --------------------------------------------------------
dpkg_root -r iso8583d >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
[ "$(status_of)" = "deinstall ok config-files" ] || fail "status after remove: $(status_of)"
[ ! -e "$root/usr/bin/iso8583d" ] && [ ! -L "$root/usr/bin/iso8583d-client" ] || fail "binaries left after remove"
grep -qx "# edited by the admin" "$conf" || fail "remove lost the conffile"
ok "dpkg -r: binaries gone, conffiles kept ($(status_of))"
dpkg_root --purge iso8583d >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
[ -z "$(status_of)" ] || [ "$(status_of)" = "unknown ok not-installed" ] || fail "status after purge: $(status_of)"
[ ! -e "$root/etc/iso8583d" ] || fail "/etc/iso8583d left after purge: $(ls -R "$root/etc/iso8583d")"
in_root getent passwd iso8583d >/dev/null || fail "purge removed the user"
[ -f "$root/var/lib/iso8583d/pemda.db" ] || fail "purge removed /var/lib/iso8583d/pemda.db"
ok "dpkg --purge: /etc/iso8583d gone; user and /var/lib/iso8583d (data) kept"
dpkg_root -i "$deb" >"$work/again.log" 2>&1 || { cat "$work/again.log"; fail "install after purge"; }
[ "$(status_of)" = "install ok installed" ] || fail "status: $(status_of)"
[ "$(in_root getent passwd iso8583d)" = "$entry" ] || fail "user changed: $(in_root getent passwd iso8583d)"
ok "install after purge with the user already there: same user, installed"
dpkg_root --purge iso8583d >/dev/null 2>&1 || fail "second purge"

echo "PASS: $passed checks"
