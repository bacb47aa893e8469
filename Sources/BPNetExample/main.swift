import BPNet

// Learn XOR as two classes with a ReLU/softmax network and Adam on the CPU, check it, and save it,
// keeping a checkpoint every 100 epochs; then go on from that checkpoint for 100 epochs more.
let data = try Dataset(inputs: [0, 0, 0, 1, 1, 0, 1, 1], labels: [0, 1, 1, 0], inputSize: 2, classes: 2)
var network = try Network(sizes: [2, 16, 2], activations: [.relu, .softmax], initializer: .he, seed: 7)
let options = TrainingOptions(
    epochs: 500, batchSize: 4, learningRate: 0.05, optimizer: .adam(), loss: .logLikelihood, schedule: .cosine)
let backend = try Device.cpu.makeBackend()
print(try MemoryPlan(architecture: network.architecture, options: options, samples: data.count))  // what the run will allocate
var trainer = Trainer(options)
trainer.checkpoint = { if $0.epochsDone % 100 == 0 { try CheckpointFile.save($0, to: "xor.ckpt") } }
try trainer.train(&network, on: data, backend: backend)

let result = try network.evaluate(on: data, loss: .logLikelihood, backend: backend)
print("loss \(result.loss), accuracy \(result.accuracy), P(XOR(1, 0) = 1) ≈ \(network([1, 0])[1])")
try ModelFile.save(network, metadata: .init(loss: .logLikelihood), to: "xor.safetensors")

var longer = options
longer.epochs = 600
let reports = try Trainer(longer).train(&network, on: data, backend: backend, resumingFrom: try CheckpointFile.load("xor.ckpt"))
print("after \(reports.count) epochs: train loss \(reports[reports.count - 1].trainLoss)")
