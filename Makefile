# iso8583d developer targets. `make test` is the one CI runs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m gevent.monkey --module pytest
ROLE   ?= bank

.PHONY: venv test test-all run demo clean docs

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The whole suite (PostgreSQL tests included; they need ISO8583D_TEST_PG_URL's server).
test: venv
	$(PYTEST) -q -m 'not slow' $(PYTEST_ARGS)

# Everything, the long fuzz and fault runs too.
test-all: venv
	$(PYTEST) -q $(PYTEST_ARGS)

# Fault scenarios (tests/fault) on SQLite and PostgreSQL, every one of them,
# at 3x the stress of make test (ISO8583D_RELIABILITY_SCALE), then their
# figures: faults, transactions, lost, doubled, reversals sent/repeated, drain.
.PHONY: reliability
reliability: venv
	ISO8583D_RELIABILITY_SCALE=$${ISO8583D_RELIABILITY_SCALE:-3} \
	    $(PYTEST) -q tests/fault tests/test_saf.py tests/test_journal.py $(PYTEST_ARGS)

# Two bank nodes on one PostgreSQL journal behind HAProxy (tests/ha), paid
# through by iso8583d-client while a node is SIGKILLed, loses its pemda link,
# or both are restarted in turn; then the table of figures per scenario.
# Needs Debian's haproxy (installed when missing) and PostgreSQL; at most 6 min.
.PHONY: ha-test
ha-test: venv
	@command -v haproxy >/dev/null || { apt-get install -y haproxy || \
	    { apt-get update && apt-get install -y haproxy; }; }
	timeout --kill-after=20 360 $(PYTEST) -q -p no:cacheprovider --basetemp=build/ha tests/ha $(PYTEST_ARGS)

# docs/configuration.md, generated from the settings schema (a test fails
# when it differs from what `iso8583d config-reference` prints).
docs: venv
	$(PY) -m appliance config-reference > docs/configuration.md.new
	mv docs/configuration.md.new docs/configuration.md

# The adversarial suite (tests/security, also part of make test): real
# daemons on loopback under slowloris, malformed HTTP and JSON, foreign
# addresses, hostile ISO8583 peers; then the table of attacks: tries, answered
# as specified, tracebacks logged, teller latency during the attack.
.PHONY: security
security: venv
	$(PYTEST) -q tests/security $(PYTEST_ARGS)

# One daemon in the foreground with its preset (or ISO8583D_CONF_DIR).
run: venv
	$(PY) -m appliance --role $(ROLE)

# Pemda + bank on loopback, the seed's inquiry -> payment -> reversal, then stop.
demo: venv
	$(PY) -m appliance demo

# Codec, link and end-to-end benchmarks side by side (README.md, "Performance"):
# prints the table, writes build/bench/latest.json. Needs wrk and PostgreSQL.
# BENCH_ARGS='--only codec,link' or '--quick' for a part or a smoke run.
.PHONY: bench bench-ab wrk
bench: $(VENV)/.bench wrk
	$(PY) tests/bench/run.py $(BENCH_ARGS)

# A change against the commit before it, interleaved (tests/bench/ab.py):
# make bench-ab OLD=<commit> [BENCH_ARGS='--rounds 3 --only link,sqlite-inquiry']
bench-ab: $(VENV)/.bench wrk
	@test -n "$(OLD)" || { echo 'usage: make bench-ab OLD=<commit>'; exit 2; }
	$(PY) tests/bench/ab.py $(OLD) $(BENCH_ARGS)

wrk:
	@command -v wrk >/dev/null || { apt-get install -y wrk || \
	    { apt-get update && apt-get install -y wrk; }; }

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

clean:
	rm -rf $(VENV) build/out build/work build/dist build/bench build/deb .pytest_cache

# -- The appliance: one-file binary, .deb and their tests (README.md, "The appliance package") --
SYSTEM_PYTHON ?= /usr/bin/python3
PYINSTALLER   := $(VENV)/bin/pyinstaller
BINARY        := build/dist/iso8583d
BINARY_INPUTS := $(shell find appliance -name '*.py') build/entry.py build/iso8583d.spec \
                 $(wildcard build/hooks/*.py) pyproject.toml
DEB_VERSION   := $(shell sed -n "s/^__version__ = ['\"]\(.*\)['\"]/\1/p" appliance/__init__.py)
DEB_ARCH      := $(shell dpkg --print-architecture 2>/dev/null)
DEB           := build/deb/iso8583d_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: binary deb smoke lintian deb-test systemd-test

# PyInstaller from its source release, with the bootloader compiled here as a
# position-independent executable with full RELRO: the wheel's is neither (no
# ASLR for the process that starts the daemon; lintian's hardening-no-pie and
# hardening-no-bindnow). Needs gcc and zlib1g-dev; ~10 s more than the wheel.
# No wheel cache: it would hand back a bootloader built with other flags.
$(PYINSTALLER): $(VENV)/.installed
	PYINSTALLER_COMPILE_BOOTLOADER=1 CC='gcc -fPIE -pie' LDFLAGS='-Wl,-z,relro,-z,now' \
	    $(PY) -m pip install --quiet --no-cache-dir --no-binary pyinstaller 'pyinstaller>=6'
	touch $@

# build/dist/iso8583d (one-file executable) and build/dist/iso8583d-client (symlink).
binary: $(BINARY)

$(BINARY): $(PYINSTALLER) $(BINARY_INPUTS)
	$(PYINSTALLER) --noconfirm --clean --log-level WARN \
	    --distpath build/dist --workpath build/work build/iso8583d.spec
	ln -sfn iso8583d build/dist/iso8583d-client
	@if $(VENV)/bin/pyi-archive_viewer -r -b $(BINARY) | \
	    grep -E '(gevent|greenlet|zope|psycopg2|ebcdic)[./](tests?|testing)([./]|$$)'; then \
	    echo 'test suites are bundled (listed above): fix build/iso8583d.spec'; exit 1; fi
	@ls -l $(BINARY)

# build/deb/iso8583d_VERSION_ARCH.deb, staged in build/deb/root.
deb: $(DEB)

$(DEB): $(BINARY) build/mkdeb.py $(wildcard packaging/debian/*) $(wildcard packaging/examples/*) \
        $(wildcard conf.d/*.ini)
	$(PY) build/mkdeb.py

# No errors allowed; warnings and info are shown.
lintian: $(DEB)
	@command -v lintian >/dev/null || { echo 'lintian is missing: apt-get install lintian'; exit 1; }
	lintian --fail-on error --display-info $(DEB)

# The frozen binaries under `env -i`: version, conf.d, EBCDIC, a bank + pemda round.
smoke: $(BINARY)
	$(SYSTEM_PYTHON) tests/smoke/smoke.py

# dpkg -i / upgrade / -r / --purge in a debootstrapped throwaway root (root, debootstrap).
deb-test: $(DEB)
	tests/smoke/deb_roundtrip.sh $(DEB)

# The .deb under a running systemd: a debootstrapped root booted by
# systemd-nspawn (root, debootstrap, systemd-container).
systemd-test: $(DEB)
	tests/smoke/systemd_boot.sh $(DEB)
