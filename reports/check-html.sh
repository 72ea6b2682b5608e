#!/usr/bin/env bash
# Opens a cohort report in headless Chromium and checks that it renders: the report's own
# inline script records on <body>, after the load event, how many images it has, how many
# decoded (naturalWidth > 0) and how many console errors / error events happened; this script
# reads those back from the DOM that Chromium dumps after load.
#
# Usage: reports/check-html.sh REPORT.html [SCREENSHOT.png]
#   SCREENSHOT.png (optional): also save a 1200x6000 screenshot of the page there.
# Installs Debian's chromium with apt-get when it is missing and we are root.
# Exit status: 0 when every check passed, 1 when one failed, 2 on a usage or setup problem.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 REPORT.html [SCREENSHOT.png]" >&2
    exit 2
fi
report=$1
screenshot=${2:-}
if [ ! -f "$report" ]; then
    echo "check-html: no such file: $report" >&2
    exit 2
fi

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "check-html: chromium is missing; installing Debian's chromium package" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        browser=$(command -v chromium)
    else
        echo "check-html: chromium not found (install it: apt-get install -y chromium)" >&2
        exit 2
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url="file://$(realpath "$report")"
flags=(
    --headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-component-update --disable-sync --no-first-run
    --virtual-time-budget=10000
)

# A fresh profile per browser run.
"$browser" "${flags[@]}" --user-data-dir="$work/profile-dom" --enable-logging=stderr --v=0 \
    --dump-dom "$url" >"$work/dom.html" 2>"$work/chromium.log" || {
    echo "check-html: chromium failed; its log:" >&2
    cat "$work/chromium.log" >&2
    exit 1
}

body=$(grep -o '<body[^>]*>' "$work/dom.html" | head -n 1 || true)
attr() {
    printf '%s' "$body" | grep -o "data-$1=\"[^\"]*\"" | head -n 1 | sed 's/^[^"]*"//; s/"$//' || true
}
images=$(grep -o '<img[ >]' "$work/dom.html" | wc -l | tr -d ' ')
count=$(attr image-count)
loaded=$(attr images-loaded-count)
all_loaded=$(attr images-loaded)
errors=$(attr console-errors)
console_lines=$(grep -c 'CONSOLE' "$work/chromium.log" || true)

echo "check-html: $report"
echo "  <img> elements in the DOM after load:          $images"
echo "  images the page counted / decoded:              ${count:-?} / ${loaded:-?}"
echo "  all images loaded (naturalWidth > 0):           ${all_loaded:-no result}"
echo "  console errors and error events on the page:    ${errors:-no result}"
echo "  console messages in chromium's log:             $console_lines"

status=0
if [ -z "$body" ] || [ -z "$all_loaded" ] || [ -z "$errors" ]; then
    echo "FAIL: the report's check script did not run (no data-* results on <body>)"
    status=1
fi
if [ "$images" -eq 0 ]; then
    echo "FAIL: the report has no images"
    status=1
fi
if [ -n "$count" ] && [ "$count" != "$images" ]; then
    echo "FAIL: the page counted $count images but the DOM has $images"
    status=1
fi
if [ -n "$all_loaded" ] && [ "$all_loaded" != "true" ]; then
    echo "FAIL: only ${loaded:-0} of ${count:-?} images loaded"
    status=1
fi
if [ -n "$errors" ] && [ "$errors" != "0" ]; then
    echo "FAIL: $errors console errors or error events"
    grep 'CONSOLE' "$work/chromium.log" || true
    status=1
fi

if [ -n "$screenshot" ]; then
    "$browser" "${flags[@]}" --user-data-dir="$work/profile-shot" --hide-scrollbars \
        --window-size=1200,6000 --screenshot="$(realpath -m "$screenshot")" "$url" \
        >/dev/null 2>"$work/shot.log" || {
        echo "FAIL: the screenshot could not be taken:"
        cat "$work/shot.log"
        status=1
    }
    [ -f "$screenshot" ] && echo "  screenshot:                                     $screenshot"
fi

if [ "$status" -eq 0 ]; then
    echo "OK: all $images images loaded, no console errors"
fi
exit "$status"
