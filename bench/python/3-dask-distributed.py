#!/usr/bin/python3
"""Step 3b: Dask distributed, the tutorial's own: a LocalCluster of one worker process per core,
one thread each (and one BLAS thread), dask.delayed, persist, then compute."""
import common

if __name__ == "__main__":
    args = common.setup("dask-distributed", blas_threads=1)
    import dask
    from dask.distributed import Client, LocalCluster

    # The cluster's start-up (seconds) is outside the batch time, as StarPU's is for dusk.
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        clock = common.Clock()
        data = common.make_data(args.n, args.ntasks)
        clock.data_done()
        lazy_results = []
        for i in range(args.ntasks):
            lazy_results.append(dask.delayed(common.process_data)(i, data[i]))
        futures = dask.persist(*lazy_results)
        results = dask.compute(*futures)
        common.finish(args, clock, results)
