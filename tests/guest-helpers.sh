# Test guests for the conversion tests (p2v-convert run, guest-convert).
# Source after functions.sh.  Every image is built once and cached under
# $P2V_TEST_CACHE (default /var/cache/p2v-test), keyed by a hash of its
# recipe (the builder functions' text), so editing a recipe rebuilds it.
# Callers must not write the cached images: serve them read-only
# (guest_serve, p2v-agent) or put a qcow2 overlay on them.
#
#   guest_debian12   Debian 12 installed as on a physical server: raw disk,
#                    MBR, /dev/sda1 ext4 root, /dev/sda2 swap, grub-pc in
#                    the MBR, /dev/sda names in fstab and grub
#                    (GRUB_DISABLE_LINUX_UUID=true), resume=/dev/sda2, an
#                    initramfs with MODULES=list holding only the SATA/IDE
#                    drivers (it cannot find its root on virtio-blk),
#                    ifupdown static address on enp2s0, a getty on ttyS0
#                    but no console=ttyS0 on the kernel command line, and
#                    an enabled fake HPE agent (hp-health.service).
#                    root's password is "p2v".
#   guest_debian12_novirtio
#                    a qcow2 overlay on the cached Debian guest whose
#                    kernel has no virtio_blk (its line is gone from
#                    modules.dep): rebuilt with the Debian guest.
#   guest_no_os      an ext4 filesystem with some files and no OS.
#   guest_arm64      a Linux root whose binaries are aarch64 ELF files
#                    (inspection: arch aarch64, so not convertible).
# Each prints the image's path; guest_serve PORT IMAGE serves one
# read-only with nbdkit on 127.0.0.1.  Building the Debian guest needs
# debootstrap, network access to deb.debian.org and libguestfs (TCG here).

: "${P2V_TEST_CACHE:=/var/cache/p2v-test}"

# guest_cache_key FUNCTION...: a hash of the functions' text.
guest_cache_key() {
    { declare -f "$@"; echo "$GUEST_DISK_SIZE $GUEST_ROOT_SIZE $GUEST_SWAP_SIZE"; } |
        sha256sum | cut -c1-16
}

# guest__cached NAME[.EXT] BUILDER [FUNCTION...]: the cached image
# NAME-KEY.EXT (EXT: raw unless given), built by BUILDER OUT.part under an
# exclusive lock (parallel tests wait for one build), then renamed, so a
# cached image is always complete.
guest__cached() {
    local name=${1%.*} ext=raw builder=$2 key out
    [ "$name" = "$1" ] || ext=${1##*.}
    key=$(guest_cache_key "${@:2}")
    mkdir -p "$P2V_TEST_CACHE"
    out=$P2V_TEST_CACHE/$name-$key.$ext
    (
        flock -x 9
        if [ ! -s "$out" ]; then
            [ "$(id -u)" = 0 ] || { echo "guest-helpers: building $name needs root" >&2; exit 1; }
            rm -f "$out.part"
            local t0=$SECONDS
            "$builder" "$out.part" >&2 || { rm -f "$out.part"; exit 1; }
            mv -f "$out.part" "$out"
            # Images of older recipes are not needed any more.
            find "$P2V_TEST_CACHE" -maxdepth 1 -name "$name-*.$ext" ! -path "$out" -delete
            echo "guest-helpers: built $name in $((SECONDS - t0)) s" >&2
        fi
    ) 9>"$P2V_TEST_CACHE/$name.lock" || return 1
    echo "$out"
}

# guest_serve PORT IMAGE: a read-only nbdkit serving IMAGE on
# 127.0.0.1:PORT (export name ignored), stopped at exit.
guest_serve() {
    local port=$1 image=$2 pid
    nbdkit -f --exit-with-parent -r -i 127.0.0.1 -p "$port" file "$image" \
        >"$TEST_DIR/nbdkit-$port.log" 2>&1 &
    pid=$!
    eval "guest_stop_$port() { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }"
    cleanup "guest_stop_$port"
    wait_for_port "$port" 20 || { cat "$TEST_DIR/nbdkit-$port.log" >&2; exit 1; }
}

guest_debian12() { guest__cached debian12 guest__build_debian12 guest__debian12_steps; }
guest_no_os()    { guest__cached no-os guest__build_no_os; }
# Keyed by the Debian recipe too: its backing file is that image.
guest_debian12_novirtio() {
    guest__cached novirtio.qcow2 guest__build_novirtio \
        guest__build_debian12 guest__debian12_steps
}
guest_arm64()    { guest__cached arm64 guest__build_arm64; }

# The Debian guest's layout (bytes): 1 MiB gap, root, swap.
GUEST_DISK_SIZE=$((3 << 30))
GUEST_ROOT_SIZE=$((2560 << 20))
GUEST_SWAP_SIZE=$(((3 << 30) - (2560 << 20) - (2 << 20)))

guest__build_debian12() {
    local out=$1 work rc=0
    work=$(mktemp -d "${TMPDIR:-/tmp}/p2v-guest.XXXXXX")
    guest__debian12_steps "$out" "$work" || rc=$?
    # The chroot's virtual filesystems must go before the tree does.
    umount -R "$work/root/proc" "$work/root/sys" "$work/root/dev" 2>/dev/null || true
    rm -rf --one-file-system "$work"
    return $rc
}

guest__debian12_steps() {
    local out=$1 work=$2 root=$2/root
    local pkgs=systemd-sysv,udev,kmod,linux-image-amd64,initramfs-tools,grub-pc-bin,grub2-common,ifupdown,iproute2,procps,less
    echo "guest-helpers: debootstrap bookworm (deb.debian.org)" >&2
    debootstrap --variant=minbase --include="$pkgs" bookworm "$root" \
        http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; return 1; }

    echo "p2v-debian" >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tp2v-debian\n' >"$root/etc/hosts"
    cat >"$root/etc/fstab" <<'EOF'
# /etc/fstab: as the installer of a physical server left it
/dev/sda1  /     ext4  errors=remount-ro  0  1
/dev/sda2  none  swap  sw                 0  0
EOF
    mkdir -p "$root/etc/network/interfaces.d"
    cat >"$root/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# the server's onboard NIC
auto enp2s0
iface enp2s0 inet static
    address 10.0.2.15/24
    gateway 10.0.2.2
EOF
    # initramfs only for the physical disk controller (ICH SATA/PATA).
    sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
    cat >"$root/etc/initramfs-tools/modules" <<'EOF'
# the physical server's disk controller and root filesystem
ata_piix
ahci
libata
sd_mod
ext4
EOF
    echo "RESUME=/dev/sda2" >"$root/etc/initramfs-tools/conf.d/resume"
    mkdir -p "$root/etc/default"
    cat >"$root/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX="resume=/dev/sda2"
GRUB_DISABLE_LINUX_UUID=true
GRUB_DISABLE_OS_PROBER=true
EOF
    mkdir -p "$root/boot/grub"
    echo "(hd0) /dev/sda" >"$root/boot/grub/device.map"
    # The boot marker: a login prompt on the serial port (getty enabled,
    # console=ttyS0 comes only with the conversion).
    ln -sf /lib/systemd/system/serial-getty@.service \
        "$root/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
    # A hardware agent that makes no sense in a VM.
    cat >"$root/etc/systemd/system/hp-health.service" <<'EOF'
[Unit]
Description=HPE System Health Application and Command Line Utilities (p2v test stand-in)

[Service]
Type=oneshot
ExecStart=/bin/true
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
    mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
    ln -sf /etc/systemd/system/hp-health.service \
        "$root/etc/systemd/system/multi-user.target.wants/hp-health.service"

    mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" &&
        mount --rbind /dev "$root/dev" || return 1
    echo "root:p2v" | chroot "$root" chpasswd || return 1
    chroot "$root" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 ||
        { tail -20 "$work/initramfs.log" >&2; return 1; }
    umount -R "$root/proc" "$root/sys" "$root/dev" || return 1
    rm -f "$root/var/cache/apt/archives/"*.deb

    echo "guest-helpers: disk image" >&2
    truncate -s "$GUEST_ROOT_SIZE" "$work/root.img"
    mkfs.ext4 -q -F -L root -d "$root" "$work/root.img" || return 1
    truncate -s "$GUEST_SWAP_SIZE" "$work/swap.img"
    chmod 600 "$work/swap.img"
    mkswap -L swap "$work/swap.img" >/dev/null 2>&1 || return 1
    rm -f "$out"
    truncate -s "$GUEST_DISK_SIZE" "$out"
    sfdisk -q "$out" <<EOF || return 1
label: dos
start=2048, size=$((GUEST_ROOT_SIZE / 512)), type=83, bootable
start=$((2048 + GUEST_ROOT_SIZE / 512)), size=$((GUEST_SWAP_SIZE / 512)), type=82
EOF
    dd if="$work/root.img" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none || return 1
    dd if="$work/swap.img" of="$out" bs=1M seek=$((1 + GUEST_ROOT_SIZE / 1048576)) \
        conv=notrunc,sparse status=none || return 1

    # grub into the MBR, from inside the guest (its own grub-install).
    echo "guest-helpers: grub-install + update-grub in the guest (libguestfs, TCG)" >&2
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish -a "$out" -m /dev/sda1 <<'EOF' >&2 || return 1
command "grub-install --target=i386-pc /dev/sda"
command "update-grub"
EOF
    # Check the recipe did what the tests rely on.
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish --ro -a "$out" -m /dev/sda1 \
        cat /boot/grub/grub.cfg >"$work/grub.cfg" || return 1
    grep -q 'root=/dev/sda1' "$work/grub.cfg" ||
        { echo "guest-helpers: grub.cfg does not use root=/dev/sda1" >&2; return 1; }
}

# The Debian guest with virtio_blk gone from its kernel's modules.dep (the
# conversion's preflight must refuse it), as an overlay: a few MiB.
guest__build_novirtio() {
    local out=$1 base
    base=$(guest_debian12) || return 1
    qemu-img create -q -f qcow2 -F raw -b "$base" "$out" || return 1
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg guestfish -a "$out" -i \
        sh "sed -i '/virtio_blk/d' /lib/modules/*/modules.dep" >/dev/null
}

guest__build_no_os() {
    local out=$1 dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/p2v-noos.XXXXXX")
    mkdir -p "$dir/data/projects"
    echo "just data, no operating system" >"$dir/data/README"
    truncate -s 64M "$out"
    mkfs.ext4 -q -F -L data -d "$dir" "$out"
    local rc=$?
    rm -rf "$dir"
    return $rc
}

# A Linux root whose programs are aarch64: a 64-byte ELF header with
# e_machine 183 (EM_AARCH64) is what file(1), and so inspection, reads.
guest__build_arm64() {
    local out=$1 dir f
    dir=$(mktemp -d "${TMPDIR:-/tmp}/p2v-arm.XXXXXX")
    mkdir -p "$dir/etc" "$dir/bin" "$dir/usr/bin" "$dir/sbin" "$dir/lib" "$dir/var" "$dir/root" "$dir/boot"
    cat >"$dir/etc/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
EOF
    echo "12.5" >"$dir/etc/debian_version"
    echo "arm-server" >"$dir/etc/hostname"
    echo "/dev/sda / ext4 defaults 0 1" >"$dir/etc/fstab"
    for f in bash ls sh echo rm; do
        "$PYTHON" - "$dir/bin/$f" <<'PY'
import struct, sys
hdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
hdr += struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0x400000, 64, 0, 0, 64, 56, 0, 64, 0, 0)
open(sys.argv[1], "wb").write(hdr)
PY
        chmod 755 "$dir/bin/$f"
    done
    truncate -s 64M "$out"
    mkfs.ext4 -q -F -L root -d "$dir" "$out"
    local rc=$?
    rm -rf "$dir"
    return $rc
}
