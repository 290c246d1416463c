#!/usr/bin/env bash
# Packs what a GPU machine needs into .device/: Deno (through ../shared/gpu/pack.sh) and the npm
# packages as one xz tarball, since node_modules itself is larger than a device run may carry.
#   bash bench/gpu/pack.sh
# then run on the device with carry [".device"] and the command
#   tar -xJf .device/node_modules.tar.xz && source .device/enter.sh && deno task gpu-check
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bash ../shared/gpu/pack.sh
tar -cf - node_modules | xz -T2 -6 > .device/node_modules.tar.xz
du -sh .device/deno.xz .device/node_modules.tar.xz | sed 's/^/pack: /'
echo 'pack: carry [".device"]; command: tar -xJf .device/node_modules.tar.xz && source .device/enter.sh && deno task gpu-check'
