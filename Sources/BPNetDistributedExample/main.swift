import BPNet
import BPNetMPI

// Train on Fashion-MNIST on every rank of `mpirun -np N`, each rank on its own device; rank 0
// checkpoints, prints and saves.
let communicator = try MPICommunicator.start()
let data = try DataSource.fashionMNIST.load(.train), test = try DataSource.fashionMNIST.load(.test)
var network = try Network(sizes: [784, 100, 10], activations: [.relu, .softmax], initializer: .he, seed: 1)
var trainer = Trainer(TrainingOptions(epochs: 5, batchSize: 128, optimizer: .adam(), loss: .logLikelihood))
trainer.communicator = communicator
if communicator.rank == 0 { trainer.checkpoint = { try CheckpointFile.save($0, to: "run.ckpt") } }
let backend = try Device.auto.forLocalRank(communicator.localRank).makeBackend()
try trainer.train(&network, on: data, test: test, backend: backend) { report in
    if communicator.rank == 0 { print("epoch \(report.epoch): test accuracy \(report.testAccuracy ?? 0)") }
}
if communicator.rank == 0 { try ModelFile.save(network, to: "net.safetensors") }
communicator.finish()
