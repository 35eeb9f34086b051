#!/usr/bin/python3
"""Step 1: multiprocessing.Pool, one process per core, one BLAS thread each ("spawn", as at NERSC)."""
import multiprocessing

import common

if __name__ == "__main__":
    args = common.setup("multiprocessing", blas_threads=1)
    multiprocessing.set_start_method("spawn")
    with multiprocessing.Pool(processes=args.workers) as pool:
        clock = common.Clock()
        data = common.make_data(args.n, args.ntasks)
        clock.data_done()
        results = []
        for result in pool.imap(common.process_data_unpack, enumerate(data)):
            results.append(result)
    common.finish(args, clock, results)
