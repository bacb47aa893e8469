import BPNet
import BPNetTestSupport
import Foundation
import Testing

/// A validation set held out with the seed, measured every epoch, and early stopping on it.
@Suite struct ValidationTests {
    @Test func holdOutIsSeededAndDisjoint() throws {
        let data = try TestData.classification(count: 50, inputs: 3, classes: 2, seed: 1)
        let (rest, heldOut) = try data.holdingOut(7, seed: 5)
        #expect(rest.count == 43 && heldOut.count == 7)
        let again = try data.holdingOut(7, seed: 5)
        #expect(again.heldOut.inputs == heldOut.inputs && again.rest.inputs == rest.inputs)
        #expect(try data.holdingOut(7, seed: 6).heldOut.inputs != heldOut.inputs)
        // Every sample lands on exactly one side.
        let rows = { (d: Dataset) in (0..<d.count).map { Array(d.inputs[($0 * 3)..<(($0 + 1) * 3)]) } }
        #expect(Set(rows(rest) + rows(heldOut)) == Set(rows(data)))
        #expect(throws: BPNetError.self) { try data.holdingOut(50, seed: 1) }
    }

    /// With η too small to change the validation accuracy, the run stops after 1 + K epochs and
    /// returns the first epoch's network: the same as a one-epoch run.
    @Test func earlyStoppingKeepsTheBestEpoch() throws {
        let all = try TestData.classification(count: 120, inputs: 6, classes: 3, seed: 2)
        let (train, validation) = try all.holdingOut(30, seed: 0)
        var options = TrainingOptions(epochs: 20, batchSize: 10, learningRate: 1e-6, earlyStop: 2)
        var network = try Network(sizes: [6, 5, 3], seed: 1)
        let start = network
        let reports = try Trainer(options).train(&network, on: train, validation: validation, backend: CPUBackend())
        #expect(reports.count == 3)
        #expect(reports.allSatisfy { $0.validationAccuracy != nil && $0.validationLoss != nil })
        options.epochs = 1
        options.earlyStop = nil
        var oneEpoch = start
        try Trainer(options).train(&oneEpoch, on: train, backend: CPUBackend())
        #expect(network == oneEpoch)
        #expect(throws: BPNetError.invalidArgument("early stopping needs a validation set")) {
            var copy = start
            try Trainer(TrainingOptions(epochs: 2, earlyStop: 1)).train(&copy, on: train, backend: CPUBackend())
        }
    }

    @Test func cliReportsTheSplitAndTheValidationColumns() throws {
        let file = try TestData.temporaryFolder() + "/data.csv"
        try CSV.write(try TestData.classification(count: 80, inputs: 4, classes: 3, seed: 3), to: file)
        let run = ["train", "--data", file, "--targets", "3", "--epochs", "2", "--device", "cpu"]
        let table = try CLI.run(run + ["--validation", "0.25"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stderr.contains("validation: 20 of the 80 training samples held out, drawn with seed 0"))
        #expect(table.tableLines.first == "epoch  train_loss  train_acc  val_loss   val_acc  test_loss  test_acc  seconds  samples/s")
        let json = try CLI.run(run + ["--validation", "16", "--json"])
        let epoch = try #require(try JSONSerialization.jsonObject(with: Data(json.stdoutLines[0].utf8)) as? [String: Any])
        #expect(epoch["validation_accuracy"] is Double && epoch["validation_loss"] is Double)
        let stopped = try CLI.run(run + ["--validation", "20", "--early-stop", "2", "--learning-rate", "1e-6", "--epochs", "10"])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("stopped early: epoch 1 had the best validation accuracy; its model is kept"))
        #expect(stopped.tableLines.count == 1 + 3 + 1, "a header, epochs 1 to 3, the final line")
        for (arguments, message) in [
            (["--early-stop", "2"], "--early-stop needs --validation"),
            (["--validation", "1.5"], "--validation takes a positive count or a fraction between 0 and 1, got '1.5'"),
            (["--validation", "80"], "--validation 80: a validation set of 80 samples needs 1 to 79 of the 80"),
        ] {
            let result = try CLI.run(run + arguments)
            #expect(result.status != 0 && result.stderr.hasSuffix(message + "\n"), "\(arguments): \(result.stderr)")
        }
    }
}
