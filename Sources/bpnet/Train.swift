import ArgumentParser
import BPNet
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network with mini-batch SGD.",
        discussion: """
            For each mini-batch of m samples out of n: gW = (1/m) Σ δ·aᵀ, gb = (1/m) Σ δ;
            vW = μ·vW − η·(gW + (λ/n)·W), W += vW; vb = μ·vb − η·gb, b += vb.
            η is --learning-rate, λ is --l2 and μ is --momentum.
            """)

    @Option(help: "fashion-mnist, a folder of IDX files, or a CSV file.")
    var data = "fashion-mnist"

    @Option(help: "Test set: an IDX folder or a CSV file. Default: the t10k files of an IDX source, when it has them.")
    var test: String?

    @Option(help: "Layer sizes, e.g. 784,30,10. Default: those of --init, else the data's inputs, 30, and its outputs.")
    var layers: String?

    @Option(parsing: .unconditional, help: "How many last columns of a CSV are target values (the rest are inputs). Default: from --layers, else the last column is a class label.")
    var targets: Int?

    @Option(parsing: .unconditional, help: "Passes over the training data.")
    var epochs = 30

    @Option(parsing: .unconditional, help: "Samples per mini-batch (the last one of an epoch may be smaller).")
    var batchSize = 10

    @Option(parsing: .unconditional, help: "η, the learning rate.")
    var learningRate: Float = 3.0

    @Option(help: "quadratic or cross-entropy.")
    var loss: Loss = .quadratic

    @Option(parsing: .unconditional, help: "λ, the L2 strength (the weight term is λ/n·W).")
    var l2: Float = 0

    @Option(parsing: .unconditional, help: "μ, the momentum, in [0, 1).")
    var momentum: Float = 0

    @Option(parsing: .unconditional, help: "Seed of the initial weights and of the shuffle.")
    var seed: UInt64 = 0

    @Flag(help: "Keep file order instead of shuffling every epoch.")
    var noShuffle = false

    @Option(name: .customLong("init"), help: "Start from the weights of this model file.")
    var initModel: String?

    @Option(help: "Save the trained model here (safetensors, written atomically).")
    var save: String?

    @Option(parsing: .unconditional, help: "Use only the first N training samples.")
    var limit: Int?

    @OptionGroup var deviceOptions: DeviceOptions
    @OptionGroup var output: OutputOptions

    var options: TrainingOptions {
        TrainingOptions(
            epochs: epochs, batchSize: batchSize, learningRate: learningRate, loss: loss, l2: l2,
            momentum: momentum, seed: seed, shuffle: !noShuffle)
    }

    func validate() throws {
        do {
            try options.validate()
        } catch let error as BPNetError {
            throw ValidationError(error.description)
        }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        if let targets, targets <= 0 { throw ValidationError("--targets must be positive, got \(targets)") }
        if let layers { _ = try parseLayers(layers) }
        if let save {
            // Checked now, so a long run does not end in a save that cannot happen.
            do {
                try OutputPath.checkWritable(save, option: "--save")
            } catch let error as BPNetError {
                throw ValidationError(error.description)
            }
        }
    }

    func run() throws {
        let backend = try deviceOptions.resolve().makeBackend()
        var sizes = try layers.map(parseLayers)
        var network: Network?
        if let initModel {
            let model = try ModelFile.load(initModel).network
            if let sizes, sizes != model.sizes {
                throw ValidationError(
                    "--layers \(sizes.map(String.init).joined(separator: ",")) differ from the --init model's "
                        + model.sizes.map(String.init).joined(separator: ","))
            }
            sizes = model.sizes
            network = model
        }

        let source = try DataSource(parsing: data)
        var trainingData = try source.load(.train, inputs: sizes?.first, outputs: sizes?.last, targets: targets)
        note("data: \(trainingData.layout ?? "\(trainingData.inputSize) inputs, \(trainingData.outputSize) outputs")")
        if let limit { trainingData = trainingData.prefix(limit) }
        let sizesUsed = sizes ?? [trainingData.inputSize, 30, trainingData.outputSize]
        let testData: Dataset? =
            if let test {
                try DataSource(parsing: test).load(.test, inputs: sizesUsed.first, outputs: sizesUsed.last, targets: targets)
            } else if source.has(.test) {
                try source.load(.test, inputs: sizesUsed.first, outputs: sizesUsed.last)
            } else { nil }
        var model = try network ?? Network(sizes: sizesUsed, seed: seed)

        let layout = model.sizes.map(String.init).joined(separator: "-")
        note("device: \(backend.description)")
        note(
            "network \(layout), \(trainingData.count) training and \(counted(testData?.count ?? 0, "test sample")), "
                + "\(counted(epochs, "epoch")) of batch \(batchSize), η \(learningRate), \(loss.rawValue) loss")
        if !output.json {
            print("epoch  train_loss  train_acc  test_loss  test_acc  seconds  samples/s")
        }
        let reports = try Trainer(options).train(&model, on: trainingData, test: testData, backend: backend) { report in
            if output.json {
                print(
                    "{\"epoch\":\(report.epoch),\"train_loss\":\(json(report.trainLoss)),"
                        + "\"train_accuracy\":\(json(report.trainAccuracy)),"
                        + "\"test_loss\":\(json(report.testLoss)),\"test_accuracy\":\(json(report.testAccuracy)),"
                        + "\"seconds\":\(json(report.seconds)),\"samples_per_second\":\(json(report.samplesPerSecond))}")
            } else {
                let testLoss = report.testLoss.map { String(format: "%.6f", $0) } ?? "-"
                let testAccuracy = report.testAccuracy.map { String(format: "%.4f", $0) } ?? "-"
                print(
                    String(format: "%5d  %10.6f  %9.4f  ", report.epoch, report.trainLoss, report.trainAccuracy)
                        + padded(testLoss, 9) + "  " + padded(testAccuracy, 8)
                        + String(format: "  %7.3f  %9.0f", report.seconds, report.samplesPerSecond))
            }
            fflush(nil)
        }
        if let last = reports.last, !output.json {
            // Without a test set, the last epoch's training accuracy (measured before each batch's update).
            if let accuracy = last.testAccuracy {
                print(String(format: "final test accuracy: %.2f%%", accuracy * 100))
            } else {
                print(String(format: "final train accuracy: %.2f%%", last.trainAccuracy * 100))
            }
        }
        if let save {
            try ModelFile.save(model, metadata: ModelFile.Metadata(loss: loss), to: save)
            note("saved \(save)")
        }
    }
}

/// Right-aligns `text` in `width` columns.
private func padded(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}
