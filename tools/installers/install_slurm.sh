#!/usr/bin/env bash
# Debian packages for a real single-node Slurm (used by utils/slurm.pl tests): slurm-wlm, munge.
# Skips the install when slurmctld, slurmd, sbatch and munged are already present.
set -euo pipefail
have_all=true
for prog in slurmctld slurmd sbatch sinfo munged; do
    command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] || have_all=false
done
if $have_all; then
    echo "install_slurm.sh: slurm-wlm and munge already installed"
    exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends slurm-wlm munge
echo "install_slurm.sh: installed $(sinfo --version 2>/dev/null || echo slurm) and munge"
