/* The median the lab's programs report (sorts x in place). */
#ifndef PINODE_LAB_MEDIAN_H
#define PINODE_LAB_MEDIAN_H

#include <stdlib.h>

static inline int lab_cmp_double(const void *a, const void *b)
{
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static inline double median(double *x, int n)
{
  qsort(x, (size_t)n, sizeof *x, lab_cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#endif
