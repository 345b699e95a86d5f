/* elementwise_ops.h -- what each ft_unary_op / ft_binary_op computes, one definition
 * for the CPU loops (core/tensor/math.c) and the CUDA kernels (core/cuda/math.cu). */
#ifndef FATHOM_ELEMENTWISE_OPS_H
#define FATHOM_ELEMENTWISE_OPS_H

#include "fathom.h"
#include <math.h>

#ifdef __CUDACC__
#define FT_HOST_DEVICE __host__ __device__
#else
#define FT_HOST_DEVICE
#endif

FT_HOST_DEVICE static inline double unary_apply(int op, double x, double arg) {
  switch (op) {
  case FT_OP_NEG: return -x;
  case FT_OP_ABS: return fabs(x);
  case FT_OP_SQRT: return sqrt(x);
  case FT_OP_EXP: return exp(x);
  case FT_OP_LOG: return log(x);
  case FT_OP_TANH: return tanh(x);
  case FT_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case FT_OP_SQUARE: return x * x;
  case FT_OP_ADD_SCALAR: return x + arg;
  case FT_OP_MUL_SCALAR: return x * arg;
  case FT_OP_POW: return pow(x, arg);
  case FT_OP_CLAMP_MIN: return x < arg ? arg : x;
  case FT_OP_CLAMP_MAX: return x > arg ? arg : x;
  case FT_OP_SIGN: return (x > 0) - (x < 0);
  case FT_OP_FLOOR: return floor(x);
  default: return ceil(x);
  }
}

FT_HOST_DEVICE static inline double binary_apply(int op, double x, double y) {
  switch (op) {
  case FT_OP_ADD: return x + y;
  case FT_OP_SUB: return x - y;
  case FT_OP_MUL: return x * y;
  case FT_OP_DIV: return x / y;
  case FT_OP_MAX: return x > y ? x : y;
  case FT_OP_MIN: return x < y ? x : y;
  case FT_OP_EQ: return x == y;
  case FT_OP_NE: return x != y;
  case FT_OP_LT: return x < y;
  case FT_OP_LE: return x <= y;
  case FT_OP_GT: return x > y;
  default: return x >= y;
  }
}

#endif
