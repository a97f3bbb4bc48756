// The few libtorch entry points tch does not expose, as a C interface for core's `shim` module:
// autocast on any device (tch's `autocast` only switches CUDA's), and the multi-tensor
// optimizer kernels (`_fused_adam_`, `_fused_adamw_`, `_foreach_*`). Tensors arrive as tch
// passes them, `at::Tensor*`. No C++ exception crosses the boundary: a failure returns a
// non-zero status and its message stays readable through `dl_shim_last_error`.

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <string>
#include <vector>

namespace {

thread_local std::string last_error;

template <typename F>
int guarded(F f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return 1;
}

std::vector<at::Tensor> list(at::Tensor** tensors, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(*tensors[i]);
  return out;
}

at::DeviceType device_type(int cuda) { return cuda ? at::kCUDA : at::kCPU; }

}  // namespace

extern "C" {

const char* dl_shim_last_error() { return last_error.c_str(); }

// Autocast on CPU (cuda = 0) or CUDA (cuda = 1) to `dtype` (a c10::ScalarType number:
// 5 = Half, 15 = BFloat16). Returns the previous enabled flag in `was_enabled` and the previous
// dtype in `was_dtype`, so the caller can restore them.
int dl_autocast_enter(int cuda, int dtype, int* was_enabled, int* was_dtype) {
  return guarded([&] {
    auto device = device_type(cuda);
    *was_enabled = at::autocast::is_autocast_enabled(device);
    *was_dtype = static_cast<int>(at::autocast::get_autocast_dtype(device));
    at::autocast::set_autocast_dtype(device, static_cast<at::ScalarType>(dtype));
    at::autocast::set_autocast_enabled(device, true);
    at::autocast::increment_nesting();
  });
}

// Leaves an autocast region: restores what `dl_autocast_enter` saw, and clears the cache of
// casted weights when the outermost region ends (as torch.autocast's __exit__ does).
int dl_autocast_exit(int cuda, int was_enabled, int was_dtype) {
  return guarded([&] {
    auto device = device_type(cuda);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device, was_enabled != 0);
    at::autocast::set_autocast_dtype(device, static_cast<at::ScalarType>(was_dtype));
  });
}

int dl_autocast_is_enabled(int cuda, int* enabled) {
  return guarded([&] { *enabled = at::autocast::is_autocast_enabled(device_type(cuda)); });
}

// One Adam (decoupled = 0) or AdamW (decoupled = 1) step over n parameters in one fused kernel
// per device and dtype; `steps` are float scalars holding this step's number (1 for the first).
int dl_fused_adam(at::Tensor** params, at::Tensor** grads, at::Tensor** exp_avgs,
                  at::Tensor** exp_avg_sqs, at::Tensor** max_exp_avg_sqs, at::Tensor** steps,
                  int n, double lr, double beta1, double beta2, double weight_decay, double eps,
                  int amsgrad, int decoupled) {
  return guarded([&] {
    auto p = list(params, n), g = list(grads, n), m = list(exp_avgs, n),
         v = list(exp_avg_sqs, n), vmax = list(max_exp_avg_sqs, amsgrad ? n : 0),
         s = list(steps, n);
    if (decoupled)
      at::_fused_adamw_(p, g, m, v, vmax, s, lr, beta1, beta2, weight_decay, eps, amsgrad != 0,
                        false);
    else
      at::_fused_adam_(p, g, m, v, vmax, s, lr, beta1, beta2, weight_decay, eps, amsgrad != 0,
                       false);
  });
}

// SGD without momentum over n parameters: p -= lr * (g + weight_decay * p), two foreach calls.
int dl_foreach_sgd(at::Tensor** params, at::Tensor** grads, int n, double lr,
                   double weight_decay) {
  return guarded([&] {
    auto p = list(params, n), g = list(grads, n);
    if (weight_decay != 0.0) {
      auto d = at::_foreach_add(g, p, weight_decay);
      at::_foreach_add_(p, d, -lr);
    } else {
      at::_foreach_add_(p, g, -lr);
    }
  });
}

}  // extern "C"
