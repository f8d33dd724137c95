#!/usr/bin/env bash
# Create one virtualenv per real example target (examples/targets/<name>/.venv) and install its
# pinned requirements.txt into it. A venv whose requirements have not changed since the last
# install is left alone (the copy installed is kept in .venv/requirements.installed).
# Usage: bash examples/targets/setup.sh [NAME ...]     (default: every target)
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for requirements in */requirements.txt; do names+=("$(dirname "$requirements")"); done
fi

for name in "${names[@]}"; do
    venv="$name/.venv"
    if [ -x "$venv/bin/python" ] && cmp -s "$name/requirements.txt" "$venv/requirements.installed"; then
        echo "== examples/targets/$name: up to date"
        continue
    fi
    echo "== examples/targets/$name: installing requirements.txt into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$name/requirements.txt"
    cp "$name/requirements.txt" "$venv/requirements.installed"
done
