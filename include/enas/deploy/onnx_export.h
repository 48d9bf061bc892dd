#pragma once
/// ONNX export of a trained run (docs/export.md): the graph is built with ONNX's own C++ library
/// (Debian's libonnx), checked by its checker with strict shape inference, and returned as the
/// model file's bytes. Images: input `image` float32 (N, C, H, W) of raw pixel values 0-255 (the
/// run's normalisation is the graph's first nodes), outputs `logits` and `probs` (N, classes),
/// inference semantics (running batch-norm statistics folded into the convolutions, no drop-path,
/// dropout or auxiliary head). The language model: one step, inputs `token` int64 (N) and `state`
/// float32 (N, hidden), outputs `logits` (N, vocabulary) and `new_state` (N, hidden).
#include <string>

#include "enas/deploy/trained_run.h"

namespace enas {

/// Whether this build has the exporter (CMake's ENAS_WITH_ONNX, on unless turned off).
bool onnx_export_available();

/// The ONNX opset the graphs use.
int64_t onnx_opset();

/// The model file of `run`, with metadata_props: the space, the architecture, the data set, the
/// class names (JSON) or the vocabulary (JSON), the input's shape and normalisation, the
/// producer. An enas::Error when this build has no exporter.
std::string export_onnx(const TrainedRun& run);

}  // namespace enas
