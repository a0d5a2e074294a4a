#!/usr/bin/env bash
# Captures the files gpudoctor reads on this host into a fixture tree (tests/hosts/NAME/root),
# so that a real host becomes a scenario. Library and module files become empty placeholders
# with their real names and links; /dev nodes become empty files, their real modes listed in
# OUT/nodes.txt. Group members are dropped (user names are not copied).
#   scripts/capture-host.sh OUT_DIR
set -euo pipefail
out=${1:?usage: capture-host.sh OUT_DIR}
root="$out/root"
mkdir -p "$root"

copy() {  # copy a regular or proc/sys file's content, if readable
  local src=$1
  [ -r "$src" ] || return 0
  mkdir -p "$root$(dirname "$src")"
  cat "$src" > "$root$src" 2>/dev/null || rm -f "$root$src"
}
placeholder() {  # an empty file, or the same link, for a library or binary
  local src=$1
  mkdir -p "$root$(dirname "$src")"
  if [ -L "$src" ]; then ln -sfn "$(readlink "$src")" "$root$src"; else : > "$root$src"; fi
}

for f in /etc/os-release /etc/ld.so.conf /proc/sys/kernel/osrelease /proc/modules /proc/cmdline /proc/1/cgroup \
         /proc/driver/nvidia/version /sys/kernel/security/lockdown /sys/power/suspend_stats/success; do copy "$f"; done
[ -L /etc/os-release ] && { mkdir -p "$root/usr/lib"; cat /etc/os-release > "$root/usr/lib/os-release"; }
for f in /etc/ld.so.conf.d/*.conf /etc/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf /lib/modprobe.d/*.conf; do [ -f "$f" ] && copy "$f"; done
[ -r /etc/group ] && { mkdir -p "$root/etc"; awk -F: '$3 < 1000 { print $1 ":x:" $3 ":" }' /etc/group > "$root/etc/group"; }
for g in /proc/driver/nvidia/gpus/*/information; do [ -f "$g" ] && copy "$g"; done
for m in nvidia nvidia_uvm nvidia_drm nvidia_modeset nouveau; do
  for f in version initstate taint; do copy "/sys/module/$m/$f"; done
done
for f in /sys/firmware/efi/efivars/SecureBoot-*; do [ -f "$f" ] && copy "$f"; done
[ -d /sys/firmware/efi ] && mkdir -p "$root/sys/firmware/efi"
mkdir -p "$root/sys/firmware"
for d in /sys/bus/pci/devices/*; do
  [ -e "$d/class" ] || continue
  name=$(basename "$d"); target=$(readlink "$d"); real=$(cd "$d" && pwd -P)
  mkdir -p "$root/sys/bus/pci/devices" "$root$real"
  ln -sfn "$target" "$root/sys/bus/pci/devices/$name"
  for f in vendor device class subsystem_vendor subsystem_device numa_node current_link_speed max_link_speed \
           current_link_width max_link_width; do
    [ -r "$d/$f" ] && cat "$d/$f" > "$root$real/$f" 2>/dev/null || true
  done
  if [ -L "$d/driver" ]; then
    drv=$(readlink "$d/driver"); ln -sfn "$drv" "$root$real/driver"
    mkdir -p "$root/sys/bus/pci/drivers/$(basename "$drv")"; touch "$root/sys/bus/pci/drivers/$(basename "$drv")/.keep"
  fi
done
: > "$out/nodes.txt"
for n in /dev/nvidia* /dev/dxg; do
  [ -e "$n" ] || continue
  [ -d "$n" ] && { mkdir -p "$root$n"; continue; }
  mkdir -p "$root$(dirname "$n")"; : > "$root$n"
  stat -c '%n %a %u %g %F' "$n" >> "$out/nodes.txt"
done
rel=$(uname -r)
if [ -r "/lib/modules/$rel/modules.dep" ]; then
  mkdir -p "$root/lib/modules/$rel"
  grep -E '(^|/)(nvidia[^/]*|nouveau)\.ko' "/lib/modules/$rel/modules.dep" > "$root/lib/modules/$rel/modules.dep" || true
fi
for k in /lib/modules/*; do
  for f in "$k"/updates/dkms/nvidia*.ko* "$k"/kernel/nvidia*/nvidia*.ko*; do [ -e "$f" ] && placeholder "$f"; done
done
for d in /var/lib/dkms/nvidia/*/*/; do [ -d "$d" ] && { mkdir -p "$root$d"; touch "$root$d/.keep"; }; done
dirs="/usr/lib/x86_64-linux-gnu /usr/lib64 /lib64 /usr/lib /usr/local/nvidia/lib64 /usr/lib/wsl/lib /usr/local/cuda/compat"
for d in $(cat /etc/ld.so.conf.d/*.conf 2>/dev/null | grep '^/') $dirs; do
  for f in "$d"/libcuda.so* "$d"/libnvidia-ml.so*; do [ -e "$f" ] || [ -L "$f" ] && placeholder "$f"; done
done
[ -L /usr/local/nvidia/lib ] && placeholder /usr/local/nvidia/lib
for b in /usr/bin/nvidia-smi /usr/bin/nvidia-modprobe /usr/local/nvidia/bin/nvidia-smi /usr/lib/wsl/lib/nvidia-smi; do
  [ -e "$b" ] && { placeholder "$b"; stat -c '%n %a %u %g' "$b" >> "$out/nodes.txt"; }
done
for f in /.dockerenv /run/.containerenv; do [ -e "$f" ] && { mkdir -p "$root$(dirname "$f")"; : > "$root$f"; }; done
find "$root" -type d -empty -exec touch {}/.keep \;
echo "captured into $out (device node modes in $out/nodes.txt)"
