/* The formats dusk_input reads (inputs.h), registered here once: the only place that names
 * them. Probed in this order; a .npy file can never start with HDF5's signature, nor the
 * reverse, so the order changes nothing but which probe runs first. */
#include "inputs.h"

#include <stddef.h>

extern const dusk__input_format dusk__input_npy, dusk__input_h5;

const dusk__input_format *const dusk__input_formats[] = {&dusk__input_npy, &dusk__input_h5, NULL};
