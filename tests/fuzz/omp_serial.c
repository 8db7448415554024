/* The two OpenMP runtime calls the dataset sources make, for the fuzz targets: they are built
 * without -fopenmp (one thread; the pragmas are ignored), so these stand in for the runtime. */
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_max_threads(void) { return 1; }
int omp_get_thread_num(void) { return 0; }
