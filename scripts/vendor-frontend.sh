#!/bin/sh
# Vendors the design system into casework/static/vendor, so that installing casework needs no
# Node.js: installs the pinned npm packages (package-lock.json), compiles frontend/casework.scss
# (GOV.UK Frontend and MOJ Frontend with a system font stack, no GDS Transport font, no crown),
# and copies the compiled CSS, the two ES module bundles, the icons the CSS uses, axe-core for the
# browser tests, and each package's licence. Run it from anywhere after changing package.json;
# commit what it writes.
set -eu
cd "$(dirname "$0")/.."

npm ci --no-audit --no-fund --ignore-scripts
out=casework/static/vendor
rm -rf "$out"
mkdir -p "$out/images"

npx sass --no-source-map --style=compressed --quiet-deps --load-path=. \
    frontend/casework.scss "$out/casework.css"

cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js "$out/"
cp node_modules/@ministryofjustice/frontend/moj/moj-frontend.min.js "$out/"
# The images the compiled CSS refers to (MOJ's icons). Not the crest: only GOV.UK's footer shows
# it, for Crown copyright, and casework's footer never does.
for image in $(grep -o 'url("\?images/[^")]*' "$out/casework.css" | sed 's/.*images\///' \
        | grep -v '^govuk-crest.svg$' | sort -u); do
    cp "node_modules/@ministryofjustice/frontend/moj/assets/images/$image" "$out/images/"
done

# axe-core checks the pages in the browser tests; it is never served.
mkdir -p tests/browser/vendor
cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE tests/browser/vendor/

# Neither package ships its licence file; both are MIT (their package.json), Crown copyright.
mit() {
    printf '%s %s\n\nThe MIT License (MIT)\n\nCopyright (c) %s\n\n' "$1" "$2" "$3"
    cat <<'MIT'
Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
MIT
}
version() { node -p "require('./node_modules/$1/package.json').version"; }
mit govuk-frontend "$(version govuk-frontend)" \
    "Crown Copyright (Government Digital Service)" > "$out/LICENSE-govuk-frontend.txt"
mit @ministryofjustice/frontend "$(version @ministryofjustice/frontend)" \
    "Crown Copyright (Ministry of Justice)" > "$out/LICENSE-moj-frontend.txt"
echo "Vendored into $out and tests/browser/vendor"
