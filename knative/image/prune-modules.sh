#!/bin/sh
# prune-modules.sh cpu|gpu — run in an install stage of knative/image/Dockerfile, after
# `npm ci --omit=dev --ignore-scripts` and before `npm rebuild`: leaves in node_modules only what
# one image variant runs. The other variant's native TF.js goes before any install script runs
# (so its libtensorflow is never downloaded), and onnxruntime-node keeps only the binaries of
# this platform (the package ships Windows, macOS and both Linux architectures). Source maps
# go too (about 200 MB, mostly TF.js's): Node reads none unless started with --enable-source-maps.
# scripts/image-size.ts runs it too, so the measured size is the image's.
set -eu
case "${1:-}" in
  cpu) rm -rf node_modules/@tensorflow/tfjs-node-gpu ;;
  gpu) rm -rf node_modules/@tensorflow/tfjs-node ;;
  *)
    echo "usage: prune-modules.sh cpu|gpu" >&2
    exit 2
    ;;
esac
arch="$(node -p process.arch)"
for napi in node_modules/onnxruntime-node/bin/napi-v*; do
  [ -d "$napi" ] || continue
  for platform in "$napi"/*; do
    [ "$(basename "$platform")" = linux ] || rm -rf "$platform"
  done
  for dir in "$napi"/linux/*; do
    [ "$(basename "$dir")" = "$arch" ] || rm -rf "$dir"
  done
done
find node_modules -type f \( -name '*.js.map' -o -name '*.mjs.map' -o -name '*.cjs.map' -o -name '*.ts.map' \) -delete
