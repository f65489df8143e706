#!/usr/bin/env bash
# The README's test command: installs what the tests run as real peers, when it is missing,
# then runs the whole suite, the peer tests included (`cargo test ARGS -- --include-ignored`).
# Plain `cargo test` runs every test that needs no peer and lists the others as ignored.
#
#   python3 -m venv + pip     rotel (the OpenTelemetry Collector of the OTLP tests), chdb
#                             (the ClickHouse engine of the collector-config test) and pytest
#                             (the corpus), in target/test-venv
#   the corpus's tools        tests/corpus.rs runs real tools failing in known ways: cargo
#                             (here already), python3, pytest, node and npm, go, make and gcc,
#                             javac, maven (offline, with Debian's packaged plugins and
#                             JUnit); typescript, jest, vitest and eslint with npm into
#                             target/corpus-node
#   nginx, openssl            a TLS front with a private CA (and client certificates)
#   sh, perl                  child processes of the wrapper tests
#   bash, man                 load the generated completion, render the generated man page
#   chromium                  render `telemetry report` headless and take a screenshot
#   xmllint (libxml2-utils)   check `--junit` files against the JUnit schemas that the
#                             junit-report crate ships (fetched from crates.io by cargo)
#   postgresql                the team server's store (`earlyexit serve --database
#                             postgres://…`): the tests run initdb and postgres themselves
#
# Debian packages are installed with apt-get, which needs root (CI runs as root); elsewhere
# the script says what to install and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v nginx >/dev/null || packages+=(nginx-light)
command -v openssl >/dev/null || packages+=(openssl)
command -v perl >/dev/null || packages+=(perl)
command -v man >/dev/null || packages+=(man-db)
command -v chromium >/dev/null || packages+=(chromium)
command -v python3 >/dev/null || packages+=(python3)
command -v xmllint >/dev/null || packages+=(libxml2-utils)
command -v make >/dev/null || packages+=(make)
command -v cc >/dev/null || packages+=(gcc)
command -v go >/dev/null || packages+=(golang-go)
command -v javac >/dev/null || packages+=(default-jdk-headless)
command -v mvn >/dev/null || packages+=(maven)
# Maven Central is out of reach: the Maven fixtures build offline from Debian's packaged
# repository (/usr/share/maven-repo), which needs these plugins and JUnit.
maven_repo=/usr/share/maven-repo
[ -d $maven_repo/org/apache/maven/plugins/maven-compiler-plugin ] || packages+=(libmaven-compiler-plugin-java)
[ -d $maven_repo/org/apache/maven/plugins/maven-resources-plugin ] || packages+=(libmaven-resources-plugin-java)
[ -d $maven_repo/org/apache/maven/plugins/maven-surefire-plugin ] || packages+=(libsurefire-java)
[ -d $maven_repo/junit/junit ] || packages+=(junit4)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
postgres_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -x "$(postgres_bin)/initdb" ] || packages+=(postgresql)
# Debian's python3 creates a venv with pip only when python3-venv (ensurepip) is in.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3-venv)
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "tests/install-and-run.sh: please install ${packages[*]} (Debian names) and run again" >&2
        exit 1
    fi
    echo "installing ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

venv=target/test-venv
if [ ! -x "$venv/bin/pip" ]; then
    echo "creating $venv"
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check rotel chdb pytest==9.2.0
export EARLYEXIT_TEST_ROTEL
EARLYEXIT_TEST_ROTEL=$(find "$venv/lib" -path '*/site-packages/rotel/rotel-agent' | head -n 1)
export EARLYEXIT_TEST_PYTHON=$PWD/$venv/bin/python
export EARLYEXIT_TEST_POSTGRES_BIN
EARLYEXIT_TEST_POSTGRES_BIN=$(postgres_bin)
# The corpus's JavaScript tools, at the versions its outputs were read from.
corpus_node=target/corpus-node
if [ ! -x "$corpus_node/node_modules/.bin/jest" ] || [ ! -x "$corpus_node/node_modules/.bin/tsc" ] ||
    [ ! -x "$corpus_node/node_modules/.bin/eslint" ] || [ ! -x "$corpus_node/node_modules/.bin/vitest" ]; then
    echo "installing typescript, jest, vitest and eslint into $corpus_node"
    mkdir -p "$corpus_node"
    npm install --prefix "$corpus_node" --silent --no-audit --no-fund typescript@5.9.3 jest@30.5.2 \
        vitest@4.0.15 eslint@9.39.5
fi
export EARLYEXIT_TEST_NODE_BIN=$PWD/$corpus_node/node_modules/.bin
# The JUnit schemas: cargo fetches the junit-report crate, whose tests hold Jenkins' junit-4
# schema and Windy Road's Ant schema.
schemas=target/junit-schemas
mkdir -p "$schemas/src"
printf '[package]\nname = "junit-schemas"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\njunit-report = "=0.9.1"\n\n[workspace]\n' >"$schemas/Cargo.toml"
: >"$schemas/src/lib.rs"
cargo fetch --quiet --manifest-path "$schemas/Cargo.toml"
export EARLYEXIT_TEST_JUNIT_SCHEMAS
EARLYEXIT_TEST_JUNIT_SCHEMAS=$(cargo metadata --format-version 1 --manifest-path "$schemas/Cargo.toml" |
    python3 -c 'import json, os, sys
packages = json.load(sys.stdin)["packages"]
print(next(os.path.dirname(p["manifest_path"]) for p in packages if p["name"] == "junit-report") + "/tests")')
# The property tests (src/properties.rs) try this many inputs each: about 5 s in all here.
export PROPTEST_CASES=${PROPTEST_CASES:-10000}

cargo test "$@" -- --include-ignored
