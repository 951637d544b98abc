#!/bin/bash
# The .deb under a running systemd (`make systemd-test`): a Debian root with
# systemd as PID 1, booted by systemd-nspawn on a private network. Needs
# root, systemd-nspawn (systemd-container) and debootstrap.
#
#   tests/smoke/systemd_boot.sh [PATH.deb]
#
# The root is a debootstrap --variant=minbase of bookworm with systemd (made
# once, cached in build/work/debootstrap-bookworm-systemd, copied fresh for
# every run). Inside the booted container, as an admin would:
#
#   dpkg -i (the maintainer scripts' systemd branch); conf.d is root:iso8583d
#   0750 and not readable by other users; systemd-analyze security rates the
#   installed unit 2.5 or below; systemctl enable --now
#   iso8583d@pemda iso8583d@bank iso8583d@aggregator (each with its preset):
#   Type=notify returns once all are ready, the processes run as iso8583d,
#   without capabilities, under a seccomp filter and no_new_privs,
#   making no file in /var/lib/iso8583d that other users can read,
#   systemd's status lines show the links up, an inquiry and a payment go
#   through the bank's JSON-RPC, another payment through the aggregator's
#   LinkAja face (aggregator -> bank -> pemda), `iso8583d journal` shows
#   the payment (and refuses root on the daemon's SQLite file), the log is
#   in the journal;
#   SIGKILL -> Restart=on-failure brings the pemda back; an upgrade restarts
#   the running instances (try-restart); a reboot starts the enabled ones
#   again, with the payments still booked; systemctl stop -> exit 0 after
#   draining; a bad drop-in makes an instance fail with exit 78 and no
#   restart loop; dpkg -r stops every instance; dpkg --purge drops the
#   enablement links.
#
# Environment: KEEP=1 keeps the root; SUITE, MIRROR pick what debootstrap
# fetches; BASE is the cached root.
set -euo pipefail
. "$(dirname "$0")/debroot.sh"

INVOICE=3271010001007002701995       # the seed's bill, unpaid in the demo data
nspawn_pid=
init=
passed=0

ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() {
    echo "FAIL $*" >&2
    if [ -n "$init" ]; then
        echo "--- journal of the iso8583d units (last 30 lines, cut at 160 characters)" >&2
        inside journalctl --no-pager -n 30 -u 'iso8583d@*' 2>&1 | cut -c1-160 >&2 || true
    fi
    exit 1
}

# -- the container -------------------------------------------------------------------
# Each boot's console goes to $work/console-N.log.
boots=0
boot() {
    boots=$((boots + 1))
    setsid systemd-nspawn --quiet --keep-unit --register=no --private-network \
        --directory="$root" --boot --console=pipe >"$work/console-$boots.log" 2>&1 </dev/null &
    nspawn_pid=$!
    init=
    for _ in $(seq 100); do
        kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/console-$boots.log"; fail "systemd-nspawn exited"; }
        init=$(container_init) && break
        sleep 0.1
    done
    [ -n "$init" ] || fail "no systemd inside the container after 10 s"
    # Until PID 1 has set up its socket, systemctl cannot reach it and
    # prints nothing; then --wait holds until the boot is done.
    local deadline=$((SECONDS + 60))
    state=
    until [ "$state" = running ] || [ "$state" = degraded ]; do
        [ $SECONDS -lt $deadline ] || fail "the container's systemd is '$state' 60 s after boot"
        state=$(inside timeout 60 systemctl is-system-running --wait 2>/dev/null) || true
        [ -n "$state" ] || sleep 0.2
    done
}

# PID 1 of the container as the host sees it: nspawn's child.
container_init() { pgrep --parent "$nspawn_pid" --exact systemd; }

inside() { timeout 120 nsenter --target "$init" --all "$@"; }

shutdown_container() {
    [ -n "$nspawn_pid" ] || return 0
    inside systemctl poweroff --no-block >/dev/null 2>&1 || kill -TERM "$nspawn_pid" 2>/dev/null || true
    timeout 60 tail --pid="$nspawn_pid" -f /dev/null || kill -KILL "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
    nspawn_pid=
    init=
}

stop_what_runs() { shutdown_container; }
debroot_setup systemd-boot "${1:-}"
BASE=${BASE:-$top/build/work/debootstrap-$SUITE-systemd}

# -- what a unit shows -----------------------------------------------------------------
prop() { inside systemctl show --property="$2" --value "iso8583d@$1.service"; }

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "$what (waited $seconds s)"
}
links_up() { [[ "$(prop "$1" StatusText)" == "$2 links up"* ]]; }
is_active() { [ "$(prop "$1" ActiveState)" = active ]; }
restarted_once() { [ "$(prop "$1" NRestarts)" = 1 ] && is_active "$1"; }

client() { inside /usr/bin/iso8583d-client "$@"; }
# Read whole first: grep -q would end the pipe early, and pipefail fail it.
journal_has() {
    local text
    text=$(inside journalctl --no-pager --unit="iso8583d@$1.service")
    grep -qF -- "$2" <<<"$text"
}

# -- preconditions ---------------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail "needs root (systemd-nspawn)"
[ -f "$deb" ] || fail "$deb is missing: run \`make deb\` first"
command -v systemd-nspawn >/dev/null || fail "systemd-nspawn is missing: apt-get install systemd-container"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"

debroot_copy "$BASE" systemd,systemd-sysv,dbus,procps
cp "$deb" "$root/root/iso8583d.deb"

# The next version, for the upgrade: the same files, another version number.
new=$work/upgrade
dpkg-deb -R "$deb" "$new"
sed -i "s/^Version: .*/Version: ${version}+systemd1/" "$new/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip --build "$new" "$root/root/iso8583d-upgrade.deb" >/dev/null

# -- install and start -----------------------------------------------------------------
boot
ok "booted $SUITE with systemd as PID 1 (systemd-nspawn, private network): $state"

inside dpkg -i /root/iso8583d.deb >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }
inside systemctl cat iso8583d@.service >/dev/null || fail "systemd does not know iso8583d@.service after dpkg -i"
ok "dpkg -i under systemd: the template unit is loaded"

conf_mode=$(inside stat -c '%U:%G %a' /etc/iso8583d/conf.d)
[ "$conf_mode" = "root:iso8583d 750" ] || fail "/etc/iso8583d/conf.d is $conf_mode"
if inside setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/iso8583d/conf.d/20-bank.ini \
    >/dev/null 2>&1; then
    fail "user nobody can read /etc/iso8583d/conf.d/20-bank.ini"
fi
ok "conf.d is root:iso8583d 750: user nobody cannot read 20-bank.ini"

for role in pemda bank aggregator; do
    report=$(inside systemd-analyze security --no-pager "iso8583d@$role.service" 2>&1)
    score=$(sed -n 's/^.*Overall exposure level for [^:]*: \([0-9.]*\).*$/\1/p' <<<"$report")
    [ -n "$score" ] || fail "systemd-analyze security iso8583d@$role: $report"
    awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' ||
        fail "systemd-analyze security rates iso8583d@$role $score, above 2.5: $(grep '✗' <<<"$report")"
done
ok "systemd-analyze security of the installed iso8583d@{pemda,bank,aggregator}: $score (2.5 or below)"

roles="pemda bank aggregator"
started=$(date +%s%N)
inside systemctl enable --now iso8583d@pemda iso8583d@bank iso8583d@aggregator \
    >"$work/enable.log" 2>&1 || { cat "$work/enable.log"; fail "systemctl enable --now"; }
took=$(( ($(date +%s%N) - started) / 1000000 ))
for role in $roles; do
    [ "$(prop $role ActiveState)/$(prop $role SubState)" = active/running ] ||
        fail "iso8583d@$role is $(prop $role ActiveState)/$(prop $role SubState)"
done
ok "systemctl enable --now iso8583d@{pemda,bank,aggregator} returned in $took ms, all active (running)"

uid=$(inside id -u iso8583d)
pids=$(inside pgrep -x iso8583d) || fail "no iso8583d process"
[ "$(wc -w <<<"$pids")" = 6 ] || fail "want 6 iso8583d processes (a bootloader and Python per unit): $pids"
container_filters=$(inside awk '/^Seccomp_filters:/ {print $2}' /proc/1/status)
for pid in $pids; do
    owner=$(inside awk '/^Uid:/ {print $2}' "/proc/$pid/status")
    [ "$owner" = "$uid" ] || fail "process $pid runs as uid $owner, not iso8583d ($uid)"
    # The hardening is in force: no capability at all, no_new_privs, and
    # seccomp filters of the unit's own on top of those systemd-nspawn puts
    # on every process of the container (PID 1 has only those).
    confined=$(inside awk '/^(CapEff|CapBnd|CapAmb|NoNewPrivs):/ {printf "%s%s ", $1, $2}' \
        "/proc/$pid/status")
    [ "$confined" = "CapEff:0000000000000000 CapBnd:0000000000000000 CapAmb:0000000000000000 NoNewPrivs:1 " ] ||
        fail "process $pid is not confined as the unit says: $confined"
    filters=$(inside awk '/^Seccomp_filters:/ {print $2}' "/proc/$pid/status")
    [ "$filters" -gt "$container_filters" ] ||
        fail "process $pid has $filters seccomp filters, no more than the container's $container_filters"
done
ok "every process of the three units runs as iso8583d (uid $uid), without capabilities, no_new_privs, $filters seccomp filters (the container's: $container_filters)"

wait_for 20 "the pemda's links did not come up" links_up pemda 2/2
wait_for 20 "the bank's links did not come up" links_up bank 3/3
ok "systemctl status: pemda $(prop pemda StatusText); bank $(prop bank StatusText)"

out=$(client --invoice-id "$INVOICE" 2>&1) || { echo "$out"; fail "inquiry through the bank"; }
out=$(client --invoice-id "$INVOICE" --payment 2>&1) || { echo "$out"; fail "payment through the bank"; }
ok "iso8583d-client: an inquiry and a payment of $INVOICE through the bank's JSON-RPC, answered 00"

bekasi=$(inside runuser -u iso8583d -- /usr/bin/iso8583d invoices --role pemda --prefix 3275 --limit 1)
[ -n "$bekasi" ] || fail "no unpaid Kota Bekasi bill in the demo data"
out=$(client linkaja --invoice-id "$bekasi" --payment 2>&1) || { echo "$out"; fail "LinkAja payment"; }
ok "iso8583d-client linkaja: a payment of $bekasi through aggregator -> bank -> pemda, answered 00"

rows=$(inside runuser -u iso8583d -- /usr/bin/iso8583d journal --invoice "$INVOICE") ||
    fail "iso8583d journal: $rows"
awk '$5 == "payment" && $10 == "answered" && $11 == "00"' <<<"$rows" | grep -q . ||
    fail "iso8583d journal does not show the payment answered 00: $rows"
if out=$(inside /usr/bin/iso8583d journal 2>&1); then
    fail "iso8583d journal as root opened the daemon's database: $out"
fi
grep -q "belongs to iso8583d: run this as that user" <<<"$out" || fail "iso8583d journal as root: $out"
ok "iso8583d journal (as iso8583d) shows the payment answered 00; as root it refuses the daemon's SQLite file"

open_to_others=$(inside find /var/lib/iso8583d -mindepth 1 -perm /o=rwx)
[ -z "$open_to_others" ] || fail "open to other users in /var/lib/iso8583d: $open_to_others"
made=$(inside find /var/lib/iso8583d -type f | wc -l)
[ "$made" -gt 0 ] || fail "no file in /var/lib/iso8583d"
ok "UMask=0027: none of the $made files the daemons made in /var/lib/iso8583d is open to other users"

journal_has pemda "Connect to 127.0.0.1 port 10002" ||
    fail "the pemda's log is not in the journal"
ok "journalctl -u iso8583d@pemda has the daemon's log"

# -- crash, a database late, upgrade, reboot ---------------------------------------------
before=$(prop pemda MainPID)
inside systemctl kill --signal=SIGKILL iso8583d@pemda
wait_for 20 "iso8583d@pemda was not restarted after SIGKILL" restarted_once pemda
[ "$(prop pemda MainPID)" != "$before" ] || fail "same MainPID after the restart"
wait_for 20 "the pemda's links did not come back after its restart" links_up pemda 2/2
ok "SIGKILL: Restart=on-failure brought iso8583d@pemda back (NRestarts=1), links up again"

# The pemda's database unreachable (a PostgreSQL server still starting):
# every start fails with exit 1 (one start and RestartSec=2 take ~3 s, too
# slow for systemd's default start limit of 5 in 10 s), and systemd keeps
# trying until the database is back.
late=$root/etc/iso8583d/conf.d/90-database-late.ini
printf '[module_opensipkd.iso8583.bjb.pbb.bogor_kota]\ndb_url = postgresql://127.0.0.1:9/sismiop\n' >"$late"
before=$(prop pemda NRestarts)
inside systemctl restart --no-block iso8583d@pemda
sleep 20
restarts=$(( $(prop pemda NRestarts) - before ))
[ "$restarts" -ge 5 ] || fail "iso8583d@pemda was restarted $restarts times in 20 s, not 5 or more"
[ "$(prop pemda Result)" != start-limit-hit ] || fail "systemd gave up on iso8583d@pemda"
journal_has pemda "cannot open the biller database postgresql://127.0.0.1:9/sismiop" ||
    fail "the journal does not say why the pemda cannot start"
rm "$late"
wait_for 20 "iso8583d@pemda did not come back once its database was" is_active pemda
wait_for 20 "the pemda's links did not come back with its database" links_up pemda 2/2
ok "database unreachable: $restarts restarts in 20 s (exit 1, the reason in the journal), no start-limit-hit; up again with its database"

declare -A invocation
for role in $roles; do invocation[$role]=$(prop $role InvocationID); done
inside dpkg -i /root/iso8583d-upgrade.deb >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "upgrade"; }
for role in $roles; do
    is_active $role || fail "iso8583d@$role is not active after the upgrade"
    [ "$(prop $role InvocationID)" != "${invocation[$role]}" ] ||
        fail "the upgrade did not restart iso8583d@$role"
done
[ "$(inside dpkg-query -W -f='${Version}' iso8583d)" = "${version}+systemd1" ] || fail "upgraded version"
ok "upgrade to ${version}+systemd1 restarted the three running instances (postinst try-restart)"

shutdown_container
boot
for role in $roles; do
    wait_for 30 "iso8583d@$role did not start at boot" is_active $role
done
wait_for 20 "the pemda's links did not come up after the reboot" links_up pemda 2/2
paid=$(inside runuser -u iso8583d -- /usr/bin/iso8583d invoices --role pemda --paid)
for invoice in "$INVOICE" "$bekasi"; do
    grep -qx "$invoice" <<<"$paid" || fail "after the reboot $invoice is not among the paid bills"
done
ok "reboot: the enabled instances started by themselves, links up, both payments still booked"

# -- stop ----------------------------------------------------------------------------------
inside systemctl stop iso8583d@aggregator iso8583d@bank iso8583d@pemda
for role in $roles; do
    [ "$(prop $role Result)/$(prop $role ExecMainStatus)" = success/0 ] ||
        fail "iso8583d@$role stopped with $(prop $role Result), exit $(prop $role ExecMainStatus)"
done
journal_has pemda "INFO Stopping" || fail "no 'Stopping' in the journal"
ok "systemctl stop: all three exited 0 (Result=success), the journal has 'Stopping'"

# -- a bad configuration ----------------------------------------------------------------
printf '[host_broken]\nip = 127.0.0.1\nport = ten\n' >"$root/etc/iso8583d/conf.d/90-broken.ini"
if inside systemctl start iso8583d@aggregator 2>/dev/null; then
    fail "iso8583d@aggregator started with a broken drop-in"
fi
sleep 3                                # longer than RestartSec=2
[ "$(prop aggregator ActiveState)" = failed ] || fail "aggregator: $(prop aggregator ActiveState)"
[ "$(prop aggregator ExecMainStatus)" = 78 ] || fail "aggregator exit $(prop aggregator ExecMainStatus), not 78"
[ "$(prop aggregator NRestarts)" = 0 ] || fail "a bad configuration was restarted"
journal_has aggregator "90-broken.ini" ||
    fail "the journal does not name the broken file"
rm "$root/etc/iso8583d/conf.d/90-broken.ini"
inside systemctl reset-failed iso8583d@aggregator
ok "a bad drop-in: iso8583d@aggregator failed with exit 78, not restarted, the journal names 90-broken.ini"

# -- remove, purge ---------------------------------------------------------------------
inside systemctl start iso8583d@pemda iso8583d@bank iso8583d@aggregator
inside dpkg -r iso8583d >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
for role in $roles; do
    [ "$(prop $role ActiveState)" = inactive ] || fail "iso8583d@$role is $(prop $role ActiveState) after dpkg -r"
done
if inside pgrep -u iso8583d >/dev/null; then fail "processes of iso8583d left after dpkg -r"; fi
ok "dpkg -r: prerm stopped every running instance"

wants=$root/etc/systemd/system/multi-user.target.wants
ls "$wants"/iso8583d@*.service >/dev/null 2>&1 || fail "the enablement links are gone before the purge"
inside dpkg --purge iso8583d >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
if ls "$wants"/iso8583d@*.service >/dev/null 2>&1; then fail "dpkg --purge left $(ls "$wants")"; fi
ok "dpkg --purge: the enablement links are gone"

echo "PASS: $passed checks"
