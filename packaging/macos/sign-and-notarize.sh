#!/usr/bin/env bash
# Sign Quietroom.app with the hardened runtime, build the .dmg, notarise and staple it
# (macOS only; UNTESTED here: see docs/install.md). Called by the workflow packaging/ci/installers.yml.
#   sign-and-notarize.sh DIST VERSION
# Needs, from the environment (secrets in CI, never in the repository):
#   MACOS_SIGN_IDENTITY  "Developer ID Application: Name (TEAMID)", in the login keychain
#   MACOS_NOTARY_PROFILE a notarytool keychain profile (xcrun notarytool store-credentials)
# Without MACOS_SIGN_IDENTITY the .app is signed ad hoc ("-"): it runs on the build machine only,
# and Gatekeeper will refuse it elsewhere.
set -euo pipefail
DIST=$1 VERSION=$2
HERE=$(cd "$(dirname "$0")" && pwd)
APP=$DIST/pyinstaller/Quietroom.app
IDENTITY=${MACOS_SIGN_IDENTITY:--}
ENTITLEMENTS=$HERE/entitlements.plist

# Inside out: every library and executable first, then the bundle. --options runtime turns on
# the hardened runtime (required for notarisation); --timestamp asks Apple's timestamp server.
find "$APP/Contents" -type f \( -name '*.so' -o -name '*.dylib' -o -perm +111 \) -print0 \
  | while IFS= read -r -d '' f; do
      if file "$f" | grep -q 'Mach-O'; then
        codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
          --sign "$IDENTITY" "$f"
      fi
    done
codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
  --sign "$IDENTITY" "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"

# The .dmg: the app and a link to /Applications, so that installing is one drag.
STAGE=$(mktemp -d)
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
DMG=$DIST/quietroom-$VERSION-macos.dmg
hdiutil create -volname "Quietroom $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
rm -rf "$STAGE"
codesign --force --timestamp --sign "$IDENTITY" "$DMG"

if [ -n "${MACOS_NOTARY_PROFILE:-}" ] && [ "$IDENTITY" != - ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
  spctl --assess --type open --context context:primary-signature --verbose "$DMG"
else
  echo "sign-and-notarize.sh: not notarised (no MACOS_NOTARY_PROFILE or no identity)" >&2
fi
