#!/usr/bin/python3
"""Step 2: mpi4py (run under mpirun -np K): rank 0 builds the data and broadcasts it, each rank
takes the task ids rank, rank + K, ..., and rank 0 gathers the results. One BLAS thread per rank."""
import common

if __name__ == "__main__":
    args = common.setup("mpi4py", blas_threads=1, workers=False)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.rank
    size = comm.size
    args.workers = size
    comm.barrier()
    clock = common.Clock()
    if rank == 0:
        data = common.make_data(args.n, args.ntasks)
        clock.data_done()
    else:
        data = None
    # bcast data from root MPI rank (the tutorial's way: every rank gets every matrix)
    data = comm.bcast(data, root=0)
    results = []
    for i in range(rank, args.ntasks, size):
        results.append(common.process_data(i, data[i]))
    results = comm.gather(results, root=0)
    if rank == 0:
        common.finish(args, clock, [r for sub in results for r in sub])
