#!/bin/sh
# Train the tumour stage's k-fold models one after another, each resumed if it was stopped:
#   tools/train_folds.sh CONFIG RUN_ROOT FOLD [FOLD ...]
# e.g. tools/train_folds.sh configs/tumour_mobileunet_cv.json runs/cv/r1 0 2 4
# The config's init_from (cv/tumour_root.pt for configs/tumour_mobileunet_cv.json) is the
# tumour weights of commit e16fe67, which saw no lits_vol256 tumour label:
#   git show e16fe67:src/livseg/weights/tumour_mobileunet.pt > cv/tumour_root.pt
set -e
config=$1 root=$2
shift 2
LIVSEG=${LIVSEG:-.venv/bin/livseg}
for fold in "$@"; do
    out=$root/fold$fold
    if [ -f "$out/last.pt" ]; then
        $LIVSEG train --resume --out "$out"
    else
        $LIVSEG train --config "$config" --fold "$fold" --out "$out"
    fi
done
