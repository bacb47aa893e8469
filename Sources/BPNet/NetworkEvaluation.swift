/// Evaluation and prediction of a trained network on a backend.
extension Network {
    /// Mean loss and accuracy on `data`, computed on `backend`.
    public func evaluate(on data: Dataset, loss: Loss = .quadratic, backend: any Backend) throws -> Evaluation {
        try Trainer.check(data, fits: self, role: "evaluation data")
        try MemoryPlan.checkInference(self, rows: min(data.count, Trainer.evaluationRows(self)), on: backend)
        let resident = try ResidentNetwork(self, backend: backend, capacity: min(data.count, Trainer.evaluationRows(self)))
        let (lossSum, correct) = try resident.evaluate(ResidentDataset(data, backend: backend), loss: loss)
        return Evaluation(
            samples: data.count, loss: lossSum / Double(data.count), accuracy: Double(correct) / Double(data.count))
    }

    /// Outputs `[count, outputSize]` for inputs `[count, inputSize]`, computed on `backend`; no
    /// inputs give no outputs.
    public func predict(_ inputs: [Float], backend: any Backend) throws -> [Float] {
        guard inputs.count % inputSize == 0 else {
            throw BPNetError.invalidArgument("inputs must be a multiple of \(inputSize) values, got \(inputs.count)")
        }
        if inputs.isEmpty { return [] }
        let data = try Dataset(
            inputs: inputs, targets: [Float](repeating: 0, count: inputs.count / inputSize * outputSize),
            inputSize: inputSize, outputSize: outputSize)
        try MemoryPlan.checkInference(self, rows: min(data.count, Trainer.evaluationRows(self)), on: backend)
        let resident = try ResidentNetwork(self, backend: backend, capacity: min(data.count, Trainer.evaluationRows(self)))
        let residentData = try ResidentDataset(data, backend: backend)
        var outputs = [Float](repeating: 0, count: data.count * outputSize)
        for offset in stride(from: 0, to: data.count, by: resident.capacity) {
            let rows = min(resident.capacity, data.count - offset)
            try resident.gather(residentData, indices: residentData.identity, offset: offset, rows: rows)
            try resident.forward(rows: rows)
            try outputs.withUnsafeMutableBufferPointer { all in
                try backend.download(
                    resident.output,
                    into: UnsafeMutableBufferPointer(rebasing: all[(offset * outputSize)..<((offset + rows) * outputSize)]))
            }
        }
        return outputs
    }
}

