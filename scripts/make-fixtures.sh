#!/usr/bin/env bash
# Regenerates the small real images under test/fixtures/ (committed; tests never need these tools).
# Needs Debian's imagemagick and webp packages.
set -euo pipefail
cd "$(dirname "$0")/../test/fixtures"
IM=/usr/bin/convert
$IM -size 7x5 gradient:red-blue -strip tiny.png
$IM -size 7x5 gradient:red-blue -strip -quality 90 tiny.jpg
$IM -size 7x5 gradient:red-blue -strip -interlace Plane tiny-progressive.jpg
$IM -size 7x5 gradient:red-blue -strip tiny.gif
$IM -delay 10 -size 7x5 xc:red xc:blue -loop 0 -strip tiny-animated.gif
cwebp -quiet -q 80 tiny.png -o tiny.webp
cwebp -quiet -lossless tiny.png -o tiny-lossless.webp
$IM -size 640x480 plasma:fractal -strip -quality 85 photo.jpg
