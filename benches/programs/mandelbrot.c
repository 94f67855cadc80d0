/* mandelbrot.c: f64 arithmetic in registers.
 *
 * Measures double-precision multiplies, adds and compares in a tight loop with no memory
 * traffic: the Mandelbrot set on an n x n grid over [-2, 0.5] x [-1.25, 1.25], at most
 * 50 iterations per point.
 *
 * run(n) = sum over the grid of (iterations before escape) * (1 + point index mod 7),
 * mod 2^32.
 */
#define BENCH_DEFAULT_N 600
#include "bench.h"

#define MAX_ITER 50

BENCH_EXPORT int run(int n) {
    bench_reset();
    u32 sum = 0;
    if (n <= 0)
        return 0;
    double step = 2.5 / n;
    for (int py = 0; py < n; py++) {
        double ci = -1.25 + py * step;
        for (int px = 0; px < n; px++) {
            double cr = -2.0 + px * step;
            double zr = 0, zi = 0;
            int it = 0;
            while (it < MAX_ITER) {
                double zr2 = zr * zr, zi2 = zi * zi;
                if (zr2 + zi2 > 4.0)
                    break;
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                it++;
            }
            sum += (u32)it * (1u + (u32)(py * n + px) % 7u);
        }
    }
    return (int)sum;
}
