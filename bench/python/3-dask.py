#!/usr/bin/python3
"""Step 3: Dask, dask.delayed + dask.compute with the processes scheduler, one process per core
and one BLAS thread each."""
import common

if __name__ == "__main__":
    args = common.setup("dask-processes", blas_threads=1)
    import dask

    clock = common.Clock()
    data = common.make_data(args.n, args.ntasks)
    clock.data_done()
    lazy_results = []
    for i in range(args.ntasks):
        lazy_results.append(dask.delayed(common.process_data)(i, data[i]))
    results = dask.compute(*lazy_results, scheduler="processes", num_workers=args.workers)
    common.finish(args, clock, results)
