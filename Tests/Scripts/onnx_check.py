"""Checks ONNX models that `bpnet export` and `ONNXExport` wrote, for ONNXExportTests: each one
passes `onnx.checker.check_model(full_check=True)` (which runs shape inference), has an input
`input` and an output `output` whose first dimension is the symbolic batch size, and ONNX
Runtime runs it on the given inputs. The test compares the outputs with BPNet's.

    python3 onnx_check.py MANIFEST.json

MANIFEST holds a list of {"model": M.onnx, "sample": [dims of one sample], "runs": [[IN.csv,
OUT.csv], ...]}: each IN.csv holds a batch of flat rows, reshaped to [rows] + sample; ONNX Runtime's
outputs go to OUT.csv, nine significant digits a value. Prints one JSON line per model with what
it found; exits non-zero, naming the model, on the first problem.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def main():
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    for entry in manifest:
        path = entry["model"]
        model = onnx.load(path)
        try:
            onnx.checker.check_model(model, full_check=True)
        except Exception as error:  # the checker's own exception types vary between releases
            sys.exit(f"{path}: onnx.checker: {error}")
        inputs, outputs = dims(model.graph.input[0]), dims(model.graph.output[0])
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        rows = []
        for source, target in entry["runs"]:
            x = np.loadtxt(source, delimiter=",", dtype=np.float32, ndmin=2).reshape([-1] + entry["sample"])
            (y,) = session.run(["output"], {"input": x})
            np.savetxt(target, y.reshape(len(x), -1), delimiter=",", fmt="%.9g")
            rows.append(len(x))
        print(json.dumps({
            "model": path, "opset": model.opset_import[0].version, "ir_version": model.ir_version,
            "input": [model.graph.input[0].name] + inputs, "output": [model.graph.output[0].name] + outputs,
            "operators": sorted({node.op_type for node in model.graph.node}), "rows": rows,
        }), flush=True)


if __name__ == "__main__":
    main()
