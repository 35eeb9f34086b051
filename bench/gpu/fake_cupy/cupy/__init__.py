"""A stand-in for CuPy made of NumPy, for trying bench/gpu/ on a machine without a GPU
(tools/pack-gpu.sh --check puts bench/gpu/fake_cupy on PYTHONPATH): the few calls that
cupy_eigh.py and cupy_mpi_eigh.py make, on the CPU. Its figures are not GPU figures;
bench/gpu/run.sh sees DUSK_STANDIN and says so."""
import numpy as _np

DUSK_STANDIN = True
__version__ = "0+numpy-standin"

empty = _np.empty
asarray = _np.asarray
random = _np.random
linalg = _np.linalg


def asnumpy(a):
    return _np.asarray(a)


class _Device:
    def __init__(self, device=0):
        self.id = device

    def synchronize(self):
        pass


class cuda:  # noqa: N801 (CuPy's own name)
    Device = _Device
