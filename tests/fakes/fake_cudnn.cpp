// A fake libcudnn.so.9 for `gpudoctor probe`: descriptors and a forward convolution (NCHW, fp32,
// cross-correlation with padding and stride) computed on the CPU over the fake GPU's memory.
// The probe's convolution is small, so its buffers lie wholly in the memory the fake keeps.
//
// "cudnn": { "version": 91900, "create": 0 (cudnnStatus_t), "wrong": false }

#include <cstdint>
#include <cstring>

#include "fake_answers.hpp"
#include "fake_libraries.hpp"

namespace {
const nlohmann::json& dnn() { return fake::answers("cudnn"); }
struct Dims {
  int n = 0, c = 0, h = 0, w = 0;
};
struct Conv {
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
};
}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT std::size_t cudnnGetVersion() { return dnn().value("version", std::size_t{91900}); }
EXPORT const char* cudnnGetErrorString(int status) {
  switch (status) {
    case 0: return "CUDNN_STATUS_SUCCESS";
    case 1001: return "CUDNN_STATUS_NOT_INITIALIZED";
    case 3000: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS_INTERNAL_ERROR";
  }
}
EXPORT int cudnnCreate(void** h) {
  if (int code = dnn().value("create", 0); code != 0) return code;
  *h = new int(0);
  return 0;
}
EXPORT int cudnnDestroy(void* h) {
  delete static_cast<int*>(h);
  return 0;
}
EXPORT int cudnnSetStream(void*, void*) { return 0; }
EXPORT int cudnnCreateTensorDescriptor(Dims** d) {
  *d = new Dims;
  return 0;
}
EXPORT int cudnnSetTensor4dDescriptor(Dims* d, int, int, int n, int c, int h, int w) {
  *d = {n, c, h, w};
  return 0;
}
EXPORT int cudnnDestroyTensorDescriptor(Dims* d) {
  delete d;
  return 0;
}
EXPORT int cudnnCreateFilterDescriptor(Dims** d) { return cudnnCreateTensorDescriptor(d); }
EXPORT int cudnnSetFilter4dDescriptor(Dims* d, int, int, int k, int c, int h, int w) {
  *d = {k, c, h, w};
  return 0;
}
EXPORT int cudnnDestroyFilterDescriptor(Dims* d) { return cudnnDestroyTensorDescriptor(d); }
EXPORT int cudnnCreateConvolutionDescriptor(Conv** c) {
  *c = new Conv;
  return 0;
}
EXPORT int cudnnSetConvolution2dDescriptor(Conv* c, int ph, int pw, int sh, int sw, int, int, int, int) {
  *c = {ph, pw, sh, sw};
  return 0;
}
EXPORT int cudnnDestroyConvolutionDescriptor(Conv* c) {
  delete c;
  return 0;
}
EXPORT int cudnnGetConvolutionForwardWorkspaceSize(void*, Dims*, Dims*, Conv*, Dims*, int, std::size_t* bytes) {
  *bytes = 0;
  return 0;
}
EXPORT int cudnnConvolutionForward(void*, const float* alpha, Dims* xd, const float* x, Dims* wd, const float* w, Conv* cd,
                                   int, void*, std::size_t, const float* beta, Dims* yd, float* y) {
  float add = dnn().value("wrong", false) ? 0.25F : 0.0F;
  for (int n = 0; n < yd->n; ++n)
    for (int k = 0; k < yd->c; ++k)
      for (int oh = 0; oh < yd->h; ++oh)
        for (int ow = 0; ow < yd->w; ++ow) {
          double sum = 0;
          for (int c = 0; c < xd->c; ++c)
            for (int r = 0; r < wd->h; ++r)
              for (int q = 0; q < wd->w; ++q) {
                int ih = oh * cd->stride_h + r - cd->pad_h, iw = ow * cd->stride_w + q - cd->pad_w;
                if (ih < 0 || ih >= xd->h || iw < 0 || iw >= xd->w) continue;
                sum += static_cast<double>(x[((n * xd->c + c) * xd->h + ih) * xd->w + iw]) *
                       static_cast<double>(w[((k * wd->c + c) * wd->h + r) * wd->w + q]);
              }
          float& out = y[((n * yd->c + k) * yd->h + oh) * yd->w + ow];
          out = *alpha * static_cast<float>(sum) + (*beta != 0.0F ? *beta * out : 0.0F) + add;
        }
  return 0;
}
