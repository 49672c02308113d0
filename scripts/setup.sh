#!/usr/bin/env bash
# Create or reuse the project's virtual environment and install platonic with the offline models.
# torch is pinned to the local CPU wheel first: an unpinned torch would pull GBs of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PLATONIC_VENV:-.venv}"
PY="${PYTHON:-python3}"
# The report is checked in a real headless browser: Debian's chromium and its driver.
if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
stamp_key=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$VENV/.platonic-setup" ] && [ "$(cat "$VENV/.platonic-setup")" = "$stamp_key" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --upgrade pip
pip install -q torch==2.13.0
# orb and pet: the Orb-v3 and PET (UPET) adapters, for files by path (about 40 s, `pip check` clean);
# MatterSim is left out: it goes in with --no-deps and leaves declared packages missing (pyproject.toml).
pip install -q -e ".[offline,finetune,test,ray,orb,pet]"
# mace-torch pins e3nn==0.4.4, which sevenn cannot use; the random-weight MACE control runs on
# e3nn 0.6, so mace-torch goes in without its pins (its other needs are listed here explicitly).
pip install -q torch-ema prettytable python-hostlist configargparse GitPython lmdb h5py
pip install -q --no-deps mace-torch==0.3.16
# TensorNet-MatPES: matgl 2.0.4 is the only release that computes right with its files; it pins
# torch<=2.7 (and a lightning dev build) but runs on torch 2.13, so it goes in without its pins.
pip install -q -e ".[matgl]"
pip install -q --no-deps matgl==2.0.4

echo "$stamp_key" > "$VENV/.platonic-setup"
