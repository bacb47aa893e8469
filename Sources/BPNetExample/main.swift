import BPNet

// Learn XOR as two classes with a ReLU/softmax network and Adam on the CPU, check it, and save it.
let data = try Dataset(inputs: [0, 0, 0, 1, 1, 0, 1, 1], labels: [0, 1, 1, 0], inputSize: 2, classes: 2)
var network = try Network(sizes: [2, 16, 2], activations: [.relu, .softmax], initializer: .he, seed: 7)
let options = TrainingOptions(
    epochs: 500, batchSize: 4, learningRate: 0.05, optimizer: .adam(), loss: .logLikelihood, schedule: .cosine)
try Trainer(options).train(&network, on: data, backend: try Device.cpu.makeBackend())

let result = try network.evaluate(on: data, loss: .logLikelihood, backend: CPUBackend())
print("loss \(result.loss), accuracy \(result.accuracy), P(XOR(1, 0) = 1) ≈ \(network([1, 0])[1])")
try ModelFile.save(network, metadata: .init(loss: .logLikelihood), to: "xor.safetensors")
