import BPNet

// Learn XOR with a 2-3-1 network on the CPU, check it, and save it.
let data = try Dataset(
    inputs: [0, 0, 0, 1, 1, 0, 1, 1], targets: [0, 1, 1, 0],
    inputSize: 2, outputSize: 1)
var network = try Network(sizes: [2, 3, 1], seed: 7)
let trainer = Trainer(TrainingOptions(epochs: 3000, batchSize: 4, learningRate: 4, loss: .crossEntropy))
try trainer.train(&network, on: data, backend: try Device.cpu.makeBackend())

let result = try network.evaluate(on: data, loss: .crossEntropy, backend: CPUBackend())
print("loss \(result.loss), XOR(1, 0) ≈ \(network([1, 0])[0])")
try ModelFile.save(network, metadata: .init(loss: .crossEntropy), to: "xor.safetensors")
