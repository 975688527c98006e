#!/usr/bin/env bash
# Builds swift/RefundKitFFI.xcframework (macOS only): the Rust library as
# static libraries for macOS (arm64 + x86_64), iOS devices (arm64) and the
# iOS simulator (arm64 + x86_64), with the generated C header and module map.
# SwiftPM's binary target in Package.swift points at the result.
#
# Needs Xcode and rustup. Usage: swift/build-xcframework.sh [--profile release|dist]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
profile=release
if [ "${1:-}" = "--profile" ]; then profile="$2"; fi

if [ "$(uname -s)" != Darwin ]; then
    echo "build-xcframework.sh needs macOS and Xcode" >&2
    exit 1
fi

targets=(aarch64-apple-darwin x86_64-apple-darwin aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
export MACOSX_DEPLOYMENT_TARGET=12.0 IPHONEOS_DEPLOYMENT_TARGET=15.0
for t in "${targets[@]}"; do
    cargo build --locked -p refundkit-uniffi --profile "$profile" --target "$t"
done

# The checked-in header must match this library: regenerate and compare.
"$root/scripts/check-bindings-drift"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
lib() { echo "$target_dir/$1/$profile/librefundkit_uniffi.a"; }

# One headers folder, nested under the module's name so that several
# XCFrameworks with a module.modulemap each never collide in Xcode.
mkdir -p "$work/headers/RefundKitFFI"
cp "$here/Sources/RefundKitFFI/RefundKitFFI.h" "$work/headers/RefundKitFFI/"
cp "$here/Sources/RefundKitFFI/RefundKitFFI.modulemap" "$work/headers/RefundKitFFI/module.modulemap"

mkdir -p "$work/macos" "$work/ios-sim"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/librefundkit_uniffi.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-sim/librefundkit_uniffi.a"

rm -rf "$here/RefundKitFFI.xcframework"
xcodebuild -create-xcframework \
    -library "$work/macos/librefundkit_uniffi.a" -headers "$work/headers" \
    -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
    -library "$work/ios-sim/librefundkit_uniffi.a" -headers "$work/headers" \
    -output "$here/RefundKitFFI.xcframework"
echo "built $here/RefundKitFFI.xcframework"
