#!/usr/bin/env bash
# Trains the plant-floor LoRA adapter of the nano model (issue 25, docs/slm.md
# "The tuned nano model") and puts it where the hardware profiles name it:
# hw-profiles/lora/smollm2-plant-qa.gguf. Not part of the demo or the tests:
# the adapter is committed, and set-up checks its SHA-256. Run this to
# reproduce it, or after changing the teacher, the data or the settings.
#
#   scripts/train.sh [extra arguments for `shopfloor model train`]
#
# Installs the training environment (.venv-train: PyTorch, transformers,
# peft, gguf from PyPI, about 5 GB), builds the workspace, then runs the
# training; stopped at any point, it resumes from its last checkpoint.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

TRAIN_VENV="$REPO_ROOT/.venv-train"
TRAIN_REQUIREMENTS="$REPO_ROOT/scripts/train/requirements.txt"
OUT="$REPO_ROOT/target/train/smollm2-plant-qa"

ensure_train_python_packages() {
    [ -d "$TRAIN_VENV" ] || python3 -m venv "$TRAIN_VENV"
    local stamp="$TRAIN_VENV/.requirements.sha256"
    if [ -f "$stamp" ] && sha256sum -c --status "$stamp" 2>/dev/null; then
        return
    fi
    say "installing the training environment into .venv-train (PyTorch, transformers, peft, gguf)"
    "$TRAIN_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$TRAIN_REQUIREMENTS"
    sha256sum "$TRAIN_REQUIREMENTS" >"$stamp"
}

ensure_build_tools
build_workspace_while ensure_model ensure_train_python_packages

"$REPO_ROOT/target/release/shopfloor" model train "$REPO_ROOT/hw-profiles/generic-x86-2core.toml" \
    --out "$OUT" --python "$TRAIN_VENV/bin/python" "$@"
mkdir -p "$REPO_ROOT/hw-profiles/lora"
cp "$OUT/adapter.gguf" "$REPO_ROOT/hw-profiles/lora/smollm2-plant-qa.gguf"
# Paths in the committed record are relative to the repository, not to this machine.
sed -e "s|$REPO_ROOT/hw-profiles/\.\./|$REPO_ROOT/|g" -e "s|$REPO_ROOT/||g" "$OUT/training.json" \
    >"$REPO_ROOT/hw-profiles/lora/smollm2-plant-qa.training.json"
cp "$OUT/data-report.md" "$REPO_ROOT/hw-profiles/lora/smollm2-plant-qa.data.md"
say "adapter written to hw-profiles/lora/smollm2-plant-qa.gguf: update its sha256 in the profiles"
sha256sum "$REPO_ROOT/hw-profiles/lora/smollm2-plant-qa.gguf"
