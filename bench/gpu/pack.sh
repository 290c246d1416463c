#!/usr/bin/env bash
# Packs what a GPU machine needs into the git-ignored .device/: the Deno binary and the npm
# packages, each xz-compressed (node_modules itself is larger than a device run may carry), and
# enter.sh, which unpacks them there with xz or, where the machine has no xz, Python's lzma.
#   bash bench/gpu/pack.sh
# then run on the device with carry [".device"] and the command it prints.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
command -v deno >/dev/null || { echo "pack.sh: no deno on PATH; install it first (see README)" >&2; exit 1; }
command -v xz >/dev/null || { echo "pack.sh: no xz here (apt-get install xz-utils)" >&2; exit 1; }
mkdir -p .device
# the real executable, not a launcher script that a package manager put on PATH
deno_bin=$(deno eval --quiet 'console.log(Deno.execPath())')
[ "$(stat -c %s "$deno_bin")" -gt 10000000 ] || { echo "pack.sh: $deno_bin does not look like the Deno binary" >&2; exit 1; }
if [ ! -f .device/deno.xz ] || [ "$deno_bin" -nt .device/deno.xz ]; then
  xz -T2 -6 -c "$deno_bin" > .device/deno.xz.partial && mv .device/deno.xz.partial .device/deno.xz
fi
deno install >/dev/null # fills node_modules from deno.json and the lock file
# tar exits 1 when a file changed while it read it (another deno run touching node_modules/.deno)
{ tar -cf - node_modules || [ $? -eq 1 ]; } | xz -T2 -6 > .device/node_modules.tar.xz.partial
mv .device/node_modules.tar.xz.partial .device/node_modules.tar.xz
cp bench/gpu/enter.sh .device/enter.sh
du -sh .device/deno.xz .device/node_modules.tar.xz | sed 's/^/pack: /'
echo 'pack: carry [".device"]; command: source .device/enter.sh && deno task gpu-check'
