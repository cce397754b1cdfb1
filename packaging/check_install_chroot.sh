#!/bin/sh
# Runs inside the bookworm root of check_install.sh (no systemd running, as in a chroot, a
# container or a bootstrap). The packages are in /tmp/debs, a TLS key pair in /tmp/tls.
set -eu
export DEBIAN_FRONTEND=noninteractive

fail() { echo "FAIL: $*" >&2; [ -f /tmp/server.log ] && tail -20 /tmp/server.log >&2; exit 1; }
step() { echo "-- $*"; }
# dpkg never waits for an answer here: a conffile prompt would read EOF and fail the test.
dpkg_() { dpkg "$@" </dev/null; }

port=$((20000 + $$ % 20000))
conf=/etc/default/macp-runtime
data=/var/lib/macp-runtime
wants=/etc/systemd/system/multi-user.target.wants/macp-runtime.service

check_user_and_dirs() {
  entry=$(getent passwd macp) || fail "no macp user"
  uid=$(echo "$entry" | cut -d: -f3)
  [ "$uid" -lt 1000 ] || fail "macp is not a system user (uid $uid)"
  [ "$(echo "$entry" | cut -d: -f6)" = "$data" ] || fail "macp's home is not $data: $entry"
  case "$(echo "$entry" | cut -d: -f7)" in */nologin | */false) ;; *) fail "macp has a login shell: $entry" ;; esac
  getent group macp >/dev/null || fail "no macp group"
  [ "$(stat -c '%U:%G %a' "$data")" = "macp:macp 750" ] || fail "$data is $(stat -c '%U:%G %a' "$data")"
}

# Runs the installed server as the service does (user macp, /etc/default/macp-runtime) with extra
# variables: --check-config, then a real start on a loopback port until it logs that it listens,
# then SIGTERM and a clean exit.
serve() {  # label VAR=value...
  label=$1; shift
  step "server with $label: --check-config"
  runuser -u macp -- env $(grep -v '^#' $conf | xargs) "$@" /usr/bin/macp-runtime --check-config \
    >/tmp/check.log 2>&1 || { cat /tmp/check.log; fail "--check-config with $label"; }
  step "server with $label: start on 127.0.0.1:$port"
  : >/tmp/server.log  # exists before the wait below reads it
  # setpriv execs the server itself (runuser would stay as its parent), so $! is the server's PID.
  setpriv --reuid=macp --regid=macp --init-groups env $(grep -v '^#' $conf | xargs) MACP_BIND_ADDR=127.0.0.1:$port \
    "$@" /usr/bin/macp-runtime >>/tmp/server.log 2>&1 &
  pid=$!
  i=0
  until grep -q "listening on 127.0.0.1:$port" /tmp/server.log; do
    kill -0 $pid 2>/dev/null || fail "server with $label exited before listening"
    i=$((i + 1)); [ $i -le 300 ] || { kill -KILL $pid; fail "server with $label did not listen within 30 s"; }
    sleep 0.1
  done
  kill -TERM $pid
  wait $pid || fail "server with $label did not exit cleanly on SIGTERM"
  grep -q "goodbye" /tmp/server.log || fail "server with $label did not shut down cleanly"
}

plugin_listed() {  # plugin-id
  runuser -u macp -- /usr/bin/macp-runtime --list-plugins >/tmp/list.log 2>&1 || { cat /tmp/list.log; fail "--list-plugins"; }
  grep -q "$1" /tmp/list.log || { cat /tmp/list.log; fail "--list-plugins does not show $1"; }
}

step "install macp-runtime"
dpkg_ -i /tmp/debs/macp-runtime_*.deb
[ -x /usr/bin/macpctl ] || fail "/usr/bin/macpctl not installed"
[ -f /usr/share/man/man1/macpctl.1.gz ] || fail "macpctl's man page not installed"
check_user_and_dirs
[ -f $conf ] || fail "$conf not installed"
grep -qx $conf /var/lib/dpkg/info/macp-runtime.conffiles || fail "$conf is not a conffile"
[ -f /lib/systemd/system/macp-runtime.service ] || fail "unit not installed"
# deb-systemd-helper enables the unit even with no systemd running; it starts at the next boot.
[ -L $wants ] || fail "macp-runtime.service is not enabled ($wants missing)"
[ -x /usr/bin/macp-runtime ] || fail "/usr/bin/macp-runtime missing"
# Stripped, with the debug info in the -dbgsym package (a .gnu_debuglink names it).
/usr/bin/macp-runtime --version >/dev/null || fail "macp-runtime --version"

step "the shipped defaults alone do not pass --check-config (no TLS, no auth yet)"
if runuser -u macp -- env $(grep -v '^#' $conf | xargs) /usr/bin/macp-runtime --check-config >/tmp/check.log 2>&1; then
  fail "--check-config accepts the shipped defaults without TLS and authentication"
fi
cat /tmp/check.log

# The operator's configuration: TLS and static tokens, readable by the service only.
install -d -m 0750 -o root -g macp /etc/macp-runtime /etc/macp-runtime/tls
install -m 0640 -o root -g macp /tmp/tls/cert.pem /tmp/tls/key.pem /etc/macp-runtime/tls/
printf '{"tokens": [{"token": "check-install-token", "sender": "agent://operator"}]}\n' >/etc/macp-runtime/tokens.json
chown root:macp /etc/macp-runtime/tokens.json && chmod 0640 /etc/macp-runtime/tokens.json
secure="MACP_TLS_CERT_PATH=/etc/macp-runtime/tls/cert.pem MACP_TLS_KEY_PATH=/etc/macp-runtime/tls/key.pem"
tokens="MACP_AUTH_TOKENS_FILE=/etc/macp-runtime/tokens.json"

step "install each plugin package and serve with it"
for deb in /tmp/debs/macp-runtime-storage-*.deb /tmp/debs/macp-runtime-auth-*.deb; do
  dpkg_ -i "$deb"
done
for id in storage-file auth-static storage-rocksdb storage-redis auth-jwt; do
  if ls /tmp/debs/ | grep -q "^macp-runtime-${id}_"; then
    [ -f /usr/lib/*/macp-runtime/plugins/$id.so ] || fail "$id.so not in /usr/lib/<triplet>/macp-runtime/plugins"
    plugin_listed "$id"
  fi
done
serve "storage-file + auth-static" $secure $tokens MACP_STORAGE_BACKEND=file MACP_DATA_DIR=$data/file
if ls /tmp/debs/ | grep -q '^macp-runtime-storage-rocksdb_'; then
  serve "storage-rocksdb" $secure $tokens MACP_STORAGE_BACKEND=rocksdb MACP_DATA_DIR=$data/rocksdb
fi
if ls /tmp/debs/ | grep -q '^macp-runtime-auth-jwt_'; then
  # An inline JWKS with one EC key: the plugin loads, parses it and the server serves.
  jwks='{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}'
  serve "auth-jwt" $secure MACP_AUTH_ISSUER=https://issuer.invalid MACP_AUTH_AUDIENCE=macp "MACP_AUTH_JWKS_JSON=$jwks" \
    MACP_STORAGE_BACKEND=file MACP_DATA_DIR=$data/jwt
fi
# storage-redis needs a Redis server, which this root has not: --list-plugins above loaded it.
[ -n "$(ls -A $data/file)" ] || fail "the file backend wrote nothing to $data/file"

step "local edit of the conffile, then reinstall everything (the upgrade path)"
echo "# local edit by check_install" >>$conf
dpkg_ -i /tmp/debs/*.deb
grep -q "local edit by check_install" $conf || fail "reinstall replaced the edited $conf"
check_user_and_dirs
[ -L $wants ] || fail "unit no longer enabled after the upgrade"
serve "storage-file after the upgrade" $secure $tokens MACP_STORAGE_BACKEND=file MACP_DATA_DIR=$data/file

step "upgrade every package to the next version (/tmp/debs-next)"
old_version=$(dpkg-query -W -f '${Version}' macp-runtime)
dpkg_ -i /tmp/debs-next/*.deb
new_version=$(dpkg-query -W -f '${Version}' macp-runtime)
[ "$new_version" = "${old_version}+next1" ] || fail "after the upgrade macp-runtime is $new_version"
for p in $(dpkg-query -W -f '${Package}\n' 'macp-runtime-*' | grep -v -e '-dev$' -e 'dbgsym'); do
  [ "$(dpkg-query -W -f '${Version}' "$p")" = "$new_version" ] || fail "$p was not upgraded with the core"
done
grep -q "local edit by check_install" $conf || fail "the upgrade replaced the edited $conf"
check_user_and_dirs
[ -L $wants ] || fail "unit no longer enabled after the version upgrade"
[ -x /usr/bin/macpctl ] || fail "/usr/bin/macpctl missing after the upgrade"
serve "storage-file after the version upgrade" $secure $tokens MACP_STORAGE_BACKEND=file MACP_DATA_DIR=$data/file

step "remove (dpkg -r)"
plugins=$(dpkg-query -W -f '${Package}\n' 'macp-runtime-*' | grep -v -e '-dev$' -e 'dbgsym')
dpkg_ -r $plugins macp-runtime
[ ! -e /usr/bin/macp-runtime ] || fail "/usr/bin/macp-runtime still there after remove"
[ -z "$(ls /usr/lib/*/macp-runtime/plugins/ 2>/dev/null)" ] || fail "plugins left after remove"
grep -q "local edit by check_install" $conf || fail "remove deleted or replaced the edited $conf"
[ -d $data/file ] || fail "remove deleted the data in $data"
# As with dh_installsystemd: remove masks the unit (the enablement is dropped on purge).
[ "$(readlink /etc/systemd/system/macp-runtime.service)" = /dev/null ] || fail "unit not masked after remove"
dpkg-query -W -f '${Status}' macp-runtime | grep -q "config-files" || fail "macp-runtime not in config-files state"

step "purge (dpkg -P)"
dpkg_ -P macp-runtime $plugins
[ ! -e $conf ] || fail "purge left $conf"
[ ! -e $data ] || fail "purge left $data"
[ ! -e /etc/systemd/system/macp-runtime.service ] || fail "purge left a mask of the unit"
[ ! -e $wants ] || fail "purge left the unit enabled"
! dpkg-query -W macp-runtime >/dev/null 2>&1 || dpkg-query -W -f '${Status}' macp-runtime | grep -q "not-installed" ||
  fail "macp-runtime still known to dpkg after purge"
# The macp user stays (Debian's advice for system users; see packaging/README.md).
getent passwd macp >/dev/null || fail "purge deleted the macp user"

step "reinstall after purge: a fresh install again"
dpkg_ -i /tmp/debs/macp-runtime_*.deb
check_user_and_dirs
grep -q "local edit" $conf && fail "a purged conffile came back with the old edit"
dpkg_ -P macp-runtime
echo "chroot checks OK"
