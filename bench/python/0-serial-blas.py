#!/usr/bin/python3
"""Step 0b: the same serial loop, OpenBLAS with one thread per core (indirect parallelism)."""
import common

if __name__ == "__main__":
    args = common.setup("serial-blas", blas_threads="cores", workers=False)
    clock = common.Clock()
    data = common.make_data(args.n, args.ntasks)
    clock.data_done()
    results = []
    for i in range(args.ntasks):
        results.append(common.process_data(i, data[i]))
    common.finish(args, clock, results)
