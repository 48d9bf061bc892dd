#include "enas/util/gemm.h"

#include <ATen/record_function.h>
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "enas/util/error.h"
#include "enas/util/runtime.h"

namespace enas {

namespace {

using torch::Tensor;

// oneDNN's C API (dnnl.h; stable from 1.0 to 3.x): row-major C = alpha op(A) op(B) + beta C,
// returning dnnl_status_t, 0 on success.
using Sgemm = int (*)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                      float* c, int64_t ldc);

struct OneDnn {
  Sgemm sgemm = nullptr;
  // Debian's oneDNN runs on OpenMP: it takes the calling thread's omp_get_max_threads().
  int (*get_threads)() = nullptr;
  void (*set_threads)(int) = nullptr;
};

const OneDnn& onednn() {
  static const OneDnn lib = [] {
    OneDnn l;
    const char* env = std::getenv("ENAS_ONEDNN_GEMM");
    if (env != nullptr && std::strcmp(env, "0") == 0) return l;
    l.get_threads = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
    l.set_threads = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
    if (l.get_threads != nullptr && l.set_threads != nullptr) {
      l.sgemm = reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
    }
    return l;
  }();
  return lib;
}

/// How oneDNN reads a (rows, cols) matrix in place: stored row-major ('N', ld = its row stride)
/// or as the transpose of a row-major matrix ('T', ld = its column stride).
struct Layout {
  char trans;
  int64_t ld;
};

std::optional<Layout> layout(const Tensor& x) {
  const int64_t r = x.size(0), c = x.size(1), s0 = x.stride(0), s1 = x.stride(1);
  if ((s1 == 1 || c == 1) && s0 >= std::max<int64_t>(c, 1)) return Layout{'N', s0};
  if ((s0 == 1 || r == 1) && s1 >= std::max<int64_t>(r, 1)) return Layout{'T', s1};
  return std::nullopt;
}

bool float_cpu_matrix(const Tensor& x) {
  return x.defined() && x.dim() == 2 && x.device().is_cpu() && x.scalar_type() == torch::kFloat;
}

/// Whether oneDNN takes this product: float CPU matrices of matching non-empty sizes, nothing
/// autograd would have to see.
bool own_product(const Tensor& out, const Tensor& a, const Tensor& b) {
  if (onednn().sgemm == nullptr) return false;
  if (!float_cpu_matrix(out) || !float_cpu_matrix(a) || !float_cpu_matrix(b)) return false;
  if (a.size(1) != b.size(0) || out.size(0) != a.size(0) || out.size(1) != b.size(1)) return false;
  if (a.numel() == 0 || b.numel() == 0) return false;
  if (torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad())) return false;
  return true;
}

/// out = beta out + a b through oneDNN, at the configured threads even inside a
/// SerialElementwise.
void sgemm(Tensor& out, const Tensor& a, const Tensor& b, float beta) {
  const auto la = layout(a), lb = layout(b);
  const Tensor ac = la ? a : a.contiguous(), bc = lb ? b : b.contiguous();
  const Layout fa = la.value_or(Layout{'N', a.size(1)}), fb = lb.value_or(Layout{'N', b.size(1)});
  const auto lo = layout(out);
  Tensor c = lo && lo->trans == 'N' ? out : out.contiguous();  // (M, N), rows in place
  const int64_t ldc = lo && lo->trans == 'N' ? lo->ld : out.size(1);
  const OneDnn& lib = onednn();
  const int want = product_threads(), have = lib.get_threads();
  if (want != have) lib.set_threads(want);
  const int status =
      lib.sgemm(fa.trans, fb.trans, a.size(0), b.size(1), a.size(1), 1.0f, ac.data_ptr<float>(),
                fa.ld, bc.data_ptr<float>(), fb.ld, beta, c.data_ptr<float>(), ldc);
  if (want != have) lib.set_threads(have);
  require(status == 0, "oneDNN's sgemm failed (status {}) on {} x {}", status, c10::str(a.sizes()),
          c10::str(b.sizes()));
  if (!c.is_same(out)) out.copy_(c);
}

}  // namespace

bool onednn_gemm_available() { return onednn().sgemm != nullptr; }

void mm_out(Tensor& out, const Tensor& a, const Tensor& b) {
  if (!own_product(out, a, b)) {
    torch::mm_out(out, a, b);
    return;
  }
  RECORD_FUNCTION("enas::mm", std::vector<c10::IValue>({a, b}));  // --profile, roofline
  sgemm(out, a, b, 0.0f);
}

void addmm_out(Tensor& out, const Tensor& add, const Tensor& a, const Tensor& b) {
  if (!own_product(out, a, b) || !add.defined() || add.sizes() != out.sizes()) {
    torch::addmm_out(out, add, a, b);
    return;
  }
  RECORD_FUNCTION("enas::addmm", std::vector<c10::IValue>({add, a, b}));
  if (!add.is_same(out)) out.copy_(add);
  sgemm(out, a, b, 1.0f);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  if (!float_cpu_matrix(a) || !float_cpu_matrix(b) || a.size(1) != b.size(0)) return a.mm(b);
  Tensor out = torch::empty({a.size(0), b.size(1)}, a.options());
  if (!own_product(out, a, b)) return a.mm(b);
  RECORD_FUNCTION("enas::mm", std::vector<c10::IValue>({a, b}));
  sgemm(out, a, b, 0.0f);
  return out;
}

namespace {

class ProductFunction : public torch::autograd::Function<ProductFunction> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& a, const Tensor& b) {
    ctx->save_for_backward({a, b});
    return enas::mm(a, b);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &a = saved[0], &b = saved[1], &g = grad[0];  // g (M, N)
    if (!g.defined()) return {Tensor(), Tensor()};
    Tensor da = ctx->needs_input_grad(0) ? enas::mm(g, b.t()) : Tensor();  // (M, K)
    Tensor db = ctx->needs_input_grad(1) ? enas::mm(a.t(), g) : Tensor();  // (K, N)
    return {da, db};
  }
};

}  // namespace

Tensor product(const Tensor& a, const Tensor& b) {
  if (onednn().sgemm == nullptr || !float_cpu_matrix(a) || !float_cpu_matrix(b) ||
      a.size(1) != b.size(0)) {
    return a.mm(b);
  }
  return ProductFunction::apply(a, b);
}

}  // namespace enas
