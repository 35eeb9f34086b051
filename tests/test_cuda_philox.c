/* gen_philox on a GPU gives the CPU's numbers bit for bit (odd lengths, large seeds, a
 * length that spans many thread blocks). Exits 77 without a GPU. */
#include "cuda_kernels.h"
#include "cuda_test.h"
#include "dusk_linalg.h"

int main(void)
{
    cuda_test_require_gpu();
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    const uint64_t seeds[] = {0, 1, 12345, 0xffffffffu, 0xfedcba9876543210ull};
    const int64_t counts[] = {1, 2, 3, 1001, 1000 * 1000 + 1};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        int64_t count = counts[k];
        double *cpu = malloc((size_t)count * sizeof *cpu),
               *gpu = malloc((size_t)count * sizeof *gpu);
        double *dev;
        CHECK(cpu != NULL && gpu != NULL);
        CHECK_CUDA(cudaMalloc((void **)&dev, (size_t)count * sizeof *dev));
        for (size_t j = 0; j < sizeof seeds / sizeof seeds[0]; j++) {
            char why[256] = "";
            dusk_philox_fill(seeds[j], cpu, count);
            int rc = dusk__philox_fill_cuda(seeds[j], dev, count, s, why, sizeof why);
            if (rc != 0) TEST_FAIL_("dusk__philox_fill_cuda: %d (%s)", rc, why);
            CHECK_CUDA(cudaMemcpy(gpu, dev, (size_t)count * sizeof *dev, cudaMemcpyDeviceToHost));
            for (int64_t i = 0; i < count; i++)
                if (memcmp(&cpu[i], &gpu[i], sizeof cpu[i]) != 0)
                    TEST_FAIL_("seed %llu, count %lld: element %lld is %.17g on the GPU, %.17g "
                               "on the CPU",
                               (unsigned long long)seeds[j], (long long)count, (long long)i, gpu[i],
                               cpu[i]);
        }
        CHECK_CUDA(cudaFree(dev));
        free(cpu);
        free(gpu);
    }
    CHECK_CUDA(cudaStreamDestroy(s));
    printf("philox: GPU and CPU streams identical\n");
    return 0;
}
