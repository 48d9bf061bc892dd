#include "enas/child/factory.h"

#include "enas/child/macro_fixed.h"
#include "enas/child/macro_shared.h"
#include "enas/child/micro_fixed.h"
#include "enas/child/micro_shared.h"
#include "enas/config/config.h"
#include "enas/space/arc_text.h"
#include "enas/space/rnn.h"
#include "enas/space/space.h"
#include "enas/util/error.h"

namespace enas {

std::string fixed_arc_text(const Config& c) {
  if (!c.child_fixed_arc_file.empty()) return read_arc_file(c.child_fixed_arc_file);
  require(!c.child_fixed_arc.empty(),
          "no architecture: pass --child_fixed_arc=\"...\", --child_fixed_arc_file or a preset");
  return c.child_fixed_arc;
}

Architecture fixed_architecture(const Config& c) {
  const Space& space = space_named(c.search_for);
  const SpaceSizes sizes{space.fixes_num_layers() ? c.child_num_layers : 0, c.child_num_cells, 0};
  return Architecture::parse(space, fixed_arc_text(c), sizes);
}

ImageChild make_fixed_child(const Config& c, const ImageShape& shape) {
  return make_fixed_child(c, shape, fixed_architecture(c));
}

ImageChild make_fixed_child(const Config& c, const ImageShape& shape, const Architecture& arc) {
  const Space& space = space_named(c.search_for);
  require(&arc.space() == &space, "a {} architecture for a {} child", arc.space().name(),
          space.name());
  switch (space.kind()) {
    case SpaceKind::kMicro:
      return std::make_shared<MicroFixedImpl>(
          MicroFixedOptions(micro::arc_from_flat(arc.decisions(), c.child_num_cells))
              .input(shape)
              .num_layers(c.child_num_layers)
              .out_filters(c.child_out_filters)
              .keep_prob(c.child_keep_prob)
              .drop_path_keep_prob(c.child_drop_path_keep_prob)
              .use_aux_heads(c.child_use_aux_heads));
    case SpaceKind::kMacro:
      return std::make_shared<MacroFixedImpl>(
          MacroFixedOptions(macro::arc_from_flat(arc.decisions(), c.child_num_layers))
              .input(shape)
              .out_filters(c.child_out_filters)
              .keep_prob(c.child_keep_prob));
    case SpaceKind::kRnn:
      break;  // the language model: make_language_model
  }
  fail("the {} space has no image child", space.name());
}

SharedChild make_shared_child(const Config& c, const ImageShape& shape) {
  const Space& space = space_named(c.search_for);
  switch (space.kind()) {
    case SpaceKind::kMicro:
      return std::make_shared<MicroSharedImpl>(MicroSharedOptions()
                                                   .input(shape)
                                                   .num_layers(c.child_num_layers)
                                                   .num_cells(c.child_num_cells)
                                                   .out_filters(c.child_out_filters)
                                                   .keep_prob(c.child_keep_prob)
                                                   .use_aux_heads(c.child_use_aux_heads));
    case SpaceKind::kMacro:
      return std::make_shared<MacroSharedImpl>(MacroSharedOptions()
                                                   .input(shape)
                                                   .num_layers(c.child_num_layers)
                                                   .out_filters(c.child_out_filters)
                                                   .num_branches(c.child_num_branches)
                                                   .keep_prob(c.child_keep_prob));
    case SpaceKind::kRnn:
      break;  // the language model: make_language_model
  }
  fail("the {} space has no image child", space.name());
}

RnnLm make_language_model(const Config& c, int64_t vocab_size, bool shared) {
  rnn::Arc arc;
  if (!shared) arc = rnn::arc_from_flat(fixed_architecture(c).decisions());
  auto o = RnnLmOptions()
               .vocab_size(vocab_size)
               .hidden(c.child_hidden_size)
               .num_nodes(shared ? c.child_num_layers : arc.num_nodes())
               .shared(shared)
               .init_range(c.child_init_range)
               .drop_e(c.child_drop_e)
               .drop_i(c.child_drop_i)
               .drop_x(c.child_drop_x)
               .drop_l(c.child_drop_l)
               .drop_o(c.child_drop_o)
               .drop_w(c.child_drop_w);
  RnnLm model(o);
  if (!shared) model->set_arc(arc);
  return model;
}

}  // namespace enas
