# One entry point for people and CI. Every target sets up what it needs itself.
#   make setup   .venv (pinned host tools), tests/mpvm/node_modules (MicroPython VM), build/device_lib (mdns_client)
#   make test    the whole suite: CPython, MicroPython VM, mpy-cross, ESP32 stubs, end-to-end in a namespace
#   make demo    dev VTN + host-simulated firmware over real mDNS in a private namespace; plot in build/
#   make bench   benchmarks; figures in build/bench.json
#   make flash   erase the board and write build/firmware/firmware.bin (or FIRMWARE=path); docs/flash.md
#   make deploy  upload the app and configs/ to the board (DEPLOY_ARGS=--mpy etc.); docs/upload.md

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup test demo bench clean firmware flash deploy

setup: $(VENV)/.stamp tests/mpvm/node_modules/.stamp build/device_lib/.stamp

$(VENV)/.stamp: tools/requirements-host.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-host.txt
	touch $@

tests/mpvm/node_modules/.stamp: tests/mpvm/package.json tests/mpvm/package-lock.json
	cd tests/mpvm && npm ci --no-audit --no-fund --loglevel=error
	touch $@

build/device_lib/.stamp: $(VENV)/.stamp tools/stage_device_libs.py
	$(PY) -m tools.stage_device_libs
	touch $@

test: setup
	$(PY) -m pytest -q tests

demo: setup
	$(PY) -m tools.demo

bench: setup
	$(PY) -m tools.bench

# The ESP32-POE image with the app frozen in: build/firmware/firmware.bin (+ firmware.txt).
# Needs docker/podman or a local ESP-IDF v5.5.1 (IDF_PATH); FIRMWARE_ARGS=--dry-run prints the steps.
firmware: $(VENV)/.stamp
	$(PY) -m tools.build_firmware $(FIRMWARE_ARGS)

# The two device commands (README "Put it on a board"). The port: VEN_PORT=..., else the one
# ESP32 serial adapter plugged in. DRY_RUN=1 prints the esptool/mpremote commands instead.
FIRMWARE ?= build/firmware/firmware.bin
flash: $(VENV)/.stamp
	./firmware/flash.sh $(if $(DRY_RUN),--dry-run) $(FIRMWARE) $(VEN_PORT)

deploy: $(VENV)/.stamp build/device_lib/.stamp
	./load_files.sh $(if $(DRY_RUN),--dry-run) $(DEPLOY_ARGS) $(VEN_PORT)

clean:
	rm -rf build .pytest_cache
