# Sourced by the device scripts that measure `gpudoctor run` (watcher_namespaces.sh,
# watcher_memory.sh): the binary, the programs, the output folder, NVLink multicast kept off in
# every program started (the machines' rule), the log of the whole call in $OUT/NAME.txt, and
# section headers.   . "$here/common.sh" NAME
B=${GPUDOCTOR:-$PWD/.device/lead/gpudoctor}
P=$here/programs
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" /tmp/reports
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
exec > >(tee "$OUT/$1.txt") 2>&1
section() { printf '\n===== %s\n' "$*"; }
