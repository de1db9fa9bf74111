#!/usr/bin/env bash
# Regenerates the small real images under test/fixtures/ (committed; tests never need these tools).
# Needs Debian's imagemagick, webp and libimage-exiftool-perl packages.
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

# Thumbnail inputs: 400x300 (displayed) in four flat quadrants — red, lime, blue, yellow from the
# top left, clockwise to the bottom left: red | lime / blue | yellow — so a test can decode a
# thumbnail and check one colour per quadrant. Needs imagemagick, webp and libimage-exiftool-perl.
Q="-size 200x150 xc:red -size 200x150 xc:lime +append ( -size 200x150 xc:blue -size 200x150 xc:yellow +append ) -append"
$IM $Q -strip -quality 92 q-baseline.jpg
$IM $Q -strip -quality 92 -interlace Plane q-progressive.jpg
$IM $Q -strip -quality 92 -colorspace CMYK q-cmyk.jpg
# Stored turned a quarter anticlockwise; EXIF orientation 6 turns it back for display (400x300 → 300x400 stored).
$IM $Q -strip -rotate -90 -quality 92 q-orient6.jpg
exiftool -q -overwrite_original -Orientation#=6 q-orient6.jpg
$IM $Q -strip -colors 4 png8:q-palette.png
$IM $Q -strip -depth 16 png48:q-16bit.png
# Alpha: the bottom-right quadrant fully transparent (white in a thumbnail), the top left half-transparent red.
$IM $Q -strip -alpha set -channel A -fx "i>=200 && j>=150 ? 0 : (i<200 && j<150 ? 0.5 : 1)" +channel png32:q-alpha.png
# Animated: the first frame is the quadrants, the second all black.
$IM -delay 50 $Q -size 400x300 xc:black -loop 0 -strip q-animated.gif
cwebp -quiet -q 90 q-16bit.png -o q-lossy.webp
cwebp -quiet -lossless q-16bit.png -o q-lossless.webp
cwebp -quiet -q 90 -exact q-alpha.png -o q-alpha.webp
$IM -size 400x300 xc:black -strip black.png
img2webp -loop 0 -lossy -q 90 -d 500 q-16bit.png -d 500 black.png -o q-animated.webp
rm black.png
# Sizes: smaller than the box (never upscaled) and very wide (aspect kept).
$IM -size 120x80 xc:red -strip small.png
$IM -size 1200x100 xc:blue -strip -quality 90 wide.jpg

# A phone photo's privacy problem: GPS, camera make/model, capture time, a comment, XMP and IPTC,
# an ICC profile, and orientation 6 (stored 300x400 turned anticlockwise; displayed 400x300 upright).
$IM $Q -strip -rotate -90 -profile /usr/share/color/icc/ghostscript/srgb.icc -quality 92 private.jpg
exiftool -q -overwrite_original \
  -Orientation#=6 -Make=Chitramcam -Model="Leaky 9" -DateTimeOriginal="2024:05:17 09:41:00" \
  -GPSLatitude=48.8583 -GPSLatitudeRef=N -GPSLongitude=2.2945 -GPSLongitudeRef=E \
  -Comment="taken at home" -XMP:Creator="Jane Doe" -IPTC:City="Paris" private.jpg
# The same in PNG (eXIf + text chunks) and WebP (EXIF + XMP chunks).
$IM $Q -strip private.png
exiftool -q -overwrite_original -PNG:Comment="taken at home" -XMP:Creator="Jane Doe" -EXIF:GPSLatitude=48.8583 -EXIF:GPSLatitudeRef=N -EXIF:Make=Chitramcam private.png
cwebp -quiet -q 90 q-16bit.png -o private.webp
exiftool -q -overwrite_original -XMP:Creator="Jane Doe" -EXIF:GPSLatitude=48.8583 -EXIF:GPSLatitudeRef=N -EXIF:Make=Chitramcam private.webp
$IM -size 40x30 xc:red -set comment "taken at home" private.gif
