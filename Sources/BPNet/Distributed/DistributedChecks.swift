import Foundation

/// What the processes of a distributed run must agree on, and the checks that they do.
extension Trainer {
    /// Throws on every process unless each has the same network shape, options, checkpoint
    /// interval, data and resume point as rank 0: rank 0 broadcasts its description, and a
    /// process that differs names the first entry that does.
    static func checkSameRun(
        communicator: any Communicator, network: Network, options: TrainingOptions, checkpointEvery: Int?,
        collectives: (confusion: Bool, replicas: Bool), data: DataFingerprint, test: Int, resumeStep: Int?
    ) throws {
        var entries: [(String, String)] = [
            // Both add collective calls to every epoch.
            ("confusion matrix", "\(collectives.confusion)"), ("replica check", "\(collectives.replicas)"),
            ("layers", network.architecture.description),
            ("activations", network.activations.map(\.rawValue).joined(separator: ",")),
            ("training samples", "\(data.samples)"), ("validation samples", "\(data.validationSamples)"),
            ("training data fingerprint", String(data.hash, radix: 16)), ("test samples", "\(test)"),
            ("checkpoint interval", checkpointEvery.map(String.init) ?? "none"), ("resumed at step", resumeStep.map(String.init) ?? "none"),
        ]
        entries += options.entries.map { ($0.key, $0.value) }
        let mine = entries.map { "\($0.0)=\($0.1)" }.joined(separator: "\n")
        var bytes = Array(mine.utf8)
        try communicator.broadcast(&bytes, root: 0)
        let theirs = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let difference = zip(entries, theirs + Array(repeating: "", count: max(0, entries.count - theirs.count))).first {
            "\($0.0.0)=\($0.0.1)" != $0.1
        }
        try communicator.agree(
            failed: difference != nil,
            ownMessage: {
                let (entry, other) = difference!
                let value = other.split(separator: "=", maxSplits: 1).dropFirst().first.map(String.init) ?? "missing"
                return "rank \(communicator.rank): \(entry.0) is \(entry.1) here but \(value) on rank 0; every rank needs the same data, layers and options"
            }(),
            otherMessage: "rank \(communicator.rank): another rank's data, layers or options differ from rank 0's")
    }

    /// `body`'s result; in a distributed run, every process learns whether `body` failed on any of
    /// them, and those where it did not throw too, so that none waits for one that has given up.
    static func together<T>(_ communicator: (any Communicator)?, _ body: () throws -> T) throws -> T {
        guard let communicator else { return try body() }
        let result = Result { try body() }
        var failed = [0.0]
        if case .failure = result { failed[0] = 1 }
        try communicator.allreduceSum(&failed)
        let value = try result.get()
        if failed[0] > 0 {
            throw BPNetError.distributed("rank \(communicator.rank): stopped because another rank failed (its message names the problem)")
        }
        return value
    }

    /// The weights' FNV-1a checksum, after checking that every process has the same.
    static func checkReplicas(_ network: Network, communicator: any Communicator, epoch: Int) throws -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for layer in network.layers {
            for values in [layer.weights, layer.biases] {
                for value in values { hash = (hash ^ UInt64(value.bitPattern)) &* 0x0000_0100_0000_01B3 }
            }
        }
        var bytes = withUnsafeBytes(of: hash.littleEndian) { Array($0) }
        try communicator.broadcast(&bytes, root: 0)
        let rootHash = UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        try communicator.agree(
            failed: rootHash != hash,
            ownMessage: "rank \(communicator.rank): after epoch \(epoch) the weights differ from rank 0's "
                + "(checksum \(String(hash, radix: 16)) against \(String(rootHash, radix: 16)))",
            otherMessage: "rank \(communicator.rank): after epoch \(epoch) another rank's weights differ from rank 0's")
        return hash
    }

    /// The confusion matrix of a whole set, each process counting its shard.
    func confusion(
        _ resident: ResidentNetwork, _ set: ResidentDataset, labels: [Int], communicator: (any Communicator)?
    ) throws -> ConfusionMatrix {
        guard let communicator else { return try resident.confusion(set, labels: labels) }
        let shard = BatchShard(rows: set.count, rank: communicator.rank, size: communicator.size)
        var matrix = try resident.confusion(set, labels: labels, range: shard.offset..<(shard.offset + shard.rows))
        var counts = matrix.counts.map(Double.init)
        try communicator.allreduceSum(&counts)
        matrix.counts = counts.map { Int($0) }
        return matrix
    }
}
