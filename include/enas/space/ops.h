#pragma once
/// The op catalogues' vocabulary: an op is a family and a kernel size. Each image space lists its
/// ops, in the authors' numbering, as one table of these (macro.h, micro.h); the fixed and the
/// shared child of the space build every op through the same table, one builder per family.
namespace enas {

enum class OpFamily {
  kConv,     // dense kxk conv
  kSepConv,  // depthwise kxk then pointwise 1x1
  kAvgPool,  // 3x3 average pool (TF "SAME", valid pixels only)
  kMaxPool,  // 3x3 max pool
  kIdentity  // the input itself (a factorised reduction where the cell strides)
};

struct OpSpec {
  const char* name;  // as the logs and drawings print it
  OpFamily family;
  int kernel;  // conv families: k of kxk; pools: 3; identity: 0

  constexpr bool is_conv() const {
    return family == OpFamily::kConv || family == OpFamily::kSepConv;
  }
  constexpr bool is_pool() const {
    return family == OpFamily::kAvgPool || family == OpFamily::kMaxPool;
  }
};

}  // namespace enas
