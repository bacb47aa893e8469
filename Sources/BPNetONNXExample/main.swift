import BPNet
import BPNetONNX

// Load a model that `bpnet train --save` wrote, print what it computes, and write it as ONNX.
let (network, _) = try ModelFile.load("model.safetensors")
print(NetworkSummary(network))
try ONNXExport.save(network, to: "model.onnx")  // or ONNXExport.encode(network): the bytes
