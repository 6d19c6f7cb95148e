#!/usr/bin/env bash
# docs/grade-class-page.png: `pcapscan grade`'s index.html for a demo class: six synthetic
# students cut from the golden captures (tests/gradeclass.py) and the three real students of
# ../shared/captures/students under anonymous names, screenshotted by headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PYTHONPATH="$PWD:$PWD/tests" python3 -c "import gradeclass, sys; gradeclass.make_class(sys.argv[1], students=6)" "$work/class"
n=6
for d in ../shared/captures/students/*/; do
    cp -r "$d" "$work/class/$(printf 'student%03d' $n)"
    n=$((n + 1))
done
PYTHONPATH="$PWD" python3 -m pcapscan.cli grade "$work/class" -o "$work/grades" >/dev/null 2>&1 || true
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1640,560 \
    --screenshot="$PWD/docs/grade-class-page.png" "file://$work/grades/index.html" 2>/dev/null
echo "wrote docs/grade-class-page.png"
