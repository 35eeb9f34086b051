#!/usr/bin/python3
"""Step 0: the serial loop, one BLAS thread (tutorial: OMP_NUM_THREADS=1 python 0-serial.py)."""
import common

if __name__ == "__main__":
    args = common.setup("serial", blas_threads=1, workers=False)
    clock = common.Clock()
    data = common.make_data(args.n, args.ntasks)
    clock.data_done()
    results = []
    for i in range(args.ntasks):
        results.append(common.process_data(i, data[i]))
    common.finish(args, clock, results)
