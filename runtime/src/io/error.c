#include "dusk.h"

const char *dusk_strerror(int err)
{
    switch (err) {
    case DUSK_OK:
        return "success";
    case DUSK_EINVAL:
        return "invalid argument";
    case DUSK_ENOMEM:
        return "out of memory";
    case DUSK_EIO:
        return "input/output error";
    case DUSK_EFORMAT:
        return "malformed file";
    case DUSK_EDATA:
        return "input data refused";
    case DUSK_ENUMERIC:
        return "numerical routine failed";
    case DUSK_EDEP:
        return "not run: it depends on failed work";
    case DUSK_ESTARPU:
        return "StarPU call failed";
    case DUSK_ENODEV:
        return "no worker can run it";
    case DUSK_ESTATE:
        return "call not allowed in this state";
    case DUSK_ETASK:
        return "some tasks failed";
    case DUSK_ECANCELED:
        return "not run: cancelled";
    case DUSK_EEXIST:
        return "the name is already taken";
    case DUSK_EKERNEL:
        return "the kernel reported a failure";
    default:
        return "unknown error";
    }
}
