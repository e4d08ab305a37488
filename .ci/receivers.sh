#!/usr/bin/env bash
# Installs the real SIEM receivers the integration tests (tests/it/siem_*.rs) start, pinned,
# from the package registries, into $KEYTRAIL_RECEIVERS (default ~/.cache/keytrail/receivers):
#   - PyPI tenzir (its engine: Splunk HEC via `accept_splunk`, Elasticsearch bulk via
#     Fluent Bit's `elasticsearch` input), ocsf-json-schema and jsonschema (OCSF 1.3.0
#     validation): a virtualenv in venv/, the engine linked as tenzir;
#   - npm @elastic/ecs (the ECS field set): npm/node_modules/@elastic/ecs;
#   - Debian rsyslog (imtcp with octet counting, imudp): /usr/sbin/rsyslogd (apt-get, as root;
#     Debian's policy-rc.d keeps the system service from starting in containers).
# Idempotent: what is installed at the pinned version is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${KEYTRAIL_RECEIVERS:-$HOME/.cache/keytrail/receivers}"
ECS_VERSION=8.11.5
RSYSLOG_VERSION=8.2302.0-1+deb12u1
CHROMIUM_VERSION=156.0.8078.108-1~deb12u1
mkdir -p "$DIR"

# Python: tenzir, ocsf-json-schema, jsonschema (every package pinned, no resolver surprises).
if [ ! -x "$DIR/venv/bin/python" ]; then
  python3 -m venv "$DIR/venv"
fi
if ! cmp -s tests/receivers/requirements.txt "$DIR/venv/requirements.txt"; then
  "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    -r tests/receivers/requirements.txt
  cp tests/receivers/requirements.txt "$DIR/venv/requirements.txt"
fi
TENZIR_PKG="$("$DIR/venv/bin/python" -c 'import importlib.util as u, os; print(os.path.dirname(u.find_spec("tenzir").origin))')"
ln -sfn "$TENZIR_PKG/bundled/bin/tenzir" "$DIR/tenzir"

# npm: the ECS field set.
if [ "$(node -p "require('$DIR/npm/node_modules/@elastic/ecs/package.json').version" 2>/dev/null)" != "$ECS_VERSION" ]; then
  npm install --silent --no-audit --no-fund --prefix "$DIR/npm" "@elastic/ecs@$ECS_VERSION"
fi

# Debian: rsyslog, and chromium (headless, for the HTML report test).
need=()
[ "$(dpkg-query -W -f='${Version}' rsyslog 2>/dev/null)" = "$RSYSLOG_VERSION" ] || need+=("rsyslog=$RSYSLOG_VERSION")
[ "$(dpkg-query -W -f='${Version}' chromium 2>/dev/null)" = "$CHROMIUM_VERSION" ] || need+=("chromium=$CHROMIUM_VERSION")
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "receivers installed in $DIR: tenzir $("$DIR/venv/bin/pip" show tenzir 2>/dev/null | sed -n 's/^Version: //p'), @elastic/ecs $ECS_VERSION, rsyslog $RSYSLOG_VERSION, chromium $CHROMIUM_VERSION"
