# Sourced on the GPU machine from the project's root, after bench/gpu/pack.sh packed .device/:
#   source .device/enter.sh && deno task gpu-check
# Unpacks Deno into $WB_BIN (default /tmp/wb-bin) and node_modules/ beside deno.json, with xz where
# the machine has it and Python's lzma module where it does not, then puts Deno on PATH.
wb_unxz() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"
  fi
}
WB_BIN=${WB_BIN:-/tmp/wb-bin}
if [ ! -x "$WB_BIN/deno" ] || [ .device/deno.xz -nt "$WB_BIN/deno" ]; then
  mkdir -p "$WB_BIN" && wb_unxz .device/deno.xz > "$WB_BIN/deno.partial" &&
    chmod +x "$WB_BIN/deno.partial" && mv "$WB_BIN/deno.partial" "$WB_BIN/deno"
fi
if [ ! -d node_modules ] || [ .device/node_modules.tar.xz -nt node_modules ]; then
  wb_unxz .device/node_modules.tar.xz | tar -xf - && touch node_modules
fi
export PATH="$WB_BIN:$PATH" DENO_NO_UPDATE_CHECK=1
