#!/usr/bin/env bash
# Installs the Debian packages deltacert needs to build and test:
# OpenBLAS/LAPACK (Clarabel's semidefinite cone) with the gfortran runtime it
# links, cmake, g++ and libclang (to build HiGHS, the MILP solver, from its
# bundled source), and Python's venv module (the ONNX reference tests run
# onnx and onnxruntime from a private virtual environment).
set -euo pipefail
# gfortran pulls the libgfortran-N-dev that matches the release's compiler
# (12 on Debian 12, 14 on Debian 13), so no version is pinned here.
packages=(libopenblas-dev gfortran pkg-config cmake g++ libclang-dev python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deltacert: installing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "deltacert: cannot install ${missing[*]}: not root and no sudo." >&2
  echo "Install them with your package manager, then run this command again." >&2
  exit 1
fi
