# How jobs run. Select a backend here, as in Kaldi/ESPnet recipes; every stage uses
# ${train_cmd} (CPU jobs), ${cuda_cmd} (training) and ${decode_cmd} (enhancement/scoring).
# The tools keep Kaldi's contract: `$cmd JOB=1:N exp/log/x.JOB.log prog args`.
cmd_backend=${MAL_CMD_BACKEND:-local}

case "${cmd_backend}" in
    local)  # this machine, jobs in parallel
        export train_cmd="utils/run.pl"
        export cuda_cmd="utils/run.pl"
        export decode_cmd="utils/run.pl"
        ;;
    slurm)  # options are mapped through conf/slurm.conf
        export train_cmd="utils/slurm.pl"
        export cuda_cmd="utils/slurm.pl"
        export decode_cmd="utils/slurm.pl --mem 4G"
        ;;
    sge)    # options are mapped through conf/queue.conf
        export train_cmd="utils/queue.pl"
        export cuda_cmd="utils/queue.pl"
        export decode_cmd="utils/queue.pl --mem 4G"
        ;;
    *) echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local|slurm|sge)" >&2; return 1 ;;
esac
