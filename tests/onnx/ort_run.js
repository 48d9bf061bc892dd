// Runs an exported model in ONNX Runtime (the npm package onnxruntime-node, an outside runtime
// nobody here wrote), for the export test (tests/e2e/test_export.cpp) and `enas bench --only
// export`. Usage: node ort_run.js ORT_DIR REQUEST.json RESULT.json
//   ORT_DIR: the folder `npm install --ignore-scripts onnxruntime-node@1` was run in.
//   REQUEST: {"model": FILE, "kind": "image", "shape": [N, C, H, W], "pixels": [...]}
//            {"model": FILE, "kind": "lm", "tokens": [...]}: stepped one token at a time from a
//            zero state, as `enas eval` reads a stream; the result is the mean loss per token.
//            {"model": FILE, "kind": "latency", "shape": [...], "repeats": R}: median seconds.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [ortDir, requestFile, resultFile] = process.argv.slice(2);
  const ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
  const request = JSON.parse(fs.readFileSync(requestFile, 'utf8'));
  const options = {intraOpNumThreads: request.threads || 1, interOpNumThreads: 1};
  const session = await ort.InferenceSession.create(request.model, options);
  let result = {inputs: session.inputNames, outputs: session.outputNames};
  if (request.kind === 'image') {
    const image = new ort.Tensor('float32', Float32Array.from(request.pixels), request.shape);
    const out = await session.run({image});
    result.probs = Array.from(out.probs.data);
    result.logits = Array.from(out.logits.data);
    result.dims = out.probs.dims;
  } else if (request.kind === 'lm') {
    const hidden = request.hidden;
    let state = new ort.Tensor('float32', new Float32Array(hidden), [1, hidden]);
    let loss = 0;
    const tokens = request.tokens;
    for (let t = 0; t + 1 < tokens.length; ++t) {
      const token = new ort.Tensor('int64', BigInt64Array.from([BigInt(tokens[t])]), [1]);
      const out = await session.run({token, state});
      const logits = out.logits.data;
      let max = -Infinity;
      for (const v of logits) max = Math.max(max, v);
      let sum = 0;
      for (const v of logits) sum += Math.exp(v - max);
      loss += max + Math.log(sum) - logits[tokens[t + 1]];
      state = out.new_state;
    }
    result.predictions = tokens.length - 1;
    result.loss = loss / result.predictions;
    result.ppl = Math.exp(result.loss);
  } else if (request.kind === 'latency') {
    const n = request.shape.reduce((a, b) => a * b, 1);
    const image = new ort.Tensor('float32', new Float32Array(n).fill(128), request.shape);
    for (let i = 0; i < 3; ++i) await session.run({image});
    const times = [];
    for (let i = 0; i < request.repeats; ++i) {
      const start = process.hrtime.bigint();
      await session.run({image});
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    times.sort((a, b) => a - b);
    result.seconds = times;
    result.median_s = times[Math.floor(times.length / 2)];
  } else {
    throw new Error('unknown request kind ' + request.kind);
  }
  fs.writeFileSync(resultFile, JSON.stringify(result));
}

main().catch((e) => {
  console.error('ort_run: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
