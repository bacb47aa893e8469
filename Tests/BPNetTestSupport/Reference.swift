import BPNet
import Foundation

/// The float64 reference, written straight from the equations, one sample at a time, in plain
/// loops. It shares nothing with the library but the parameters it starts from.
public struct ReferenceNetwork {
    public var sizes: [Int]
    /// weights[l][o * n_l + i] is W_{l+1}[o, i].
    public var weights: [[Double]]
    public var biases: [[Double]]
    private var weightVelocities: [[Double]]
    private var biasVelocities: [[Double]]

    public init(_ network: Network) {
        sizes = network.sizes
        weights = network.layers.map { $0.weights.map(Double.init) }
        biases = network.layers.map { $0.biases.map(Double.init) }
        weightVelocities = weights.map { [Double](repeating: 0, count: $0.count) }
        biasVelocities = biases.map { [Double](repeating: 0, count: $0.count) }
    }

    static func sigmoid(_ z: Double) -> Double { 1 / (1 + exp(-z)) }

    /// a_0 = x; z_l = W_l·a_{l−1} + b_l; a_l = σ(z_l). Returns every a_l.
    public func activations(_ x: [Double]) -> [[Double]] {
        var all = [x]
        for l in 0..<(sizes.count - 1) {
            let previous = all[l]
            var next = [Double](repeating: 0, count: sizes[l + 1])
            for o in 0..<sizes[l + 1] {
                var z = biases[l][o]
                for i in 0..<sizes[l] { z += weights[l][o * sizes[l] + i] * previous[i] }
                next[o] = ReferenceNetwork.sigmoid(z)
            }
            all.append(next)
        }
        return all
    }

    /// The cost of one sample. Cross-entropy uses the same clamp as the library's value.
    public static func cost(_ loss: Loss, output a: [Double], target y: [Double]) -> Double {
        var total = 0.0
        for j in 0..<a.count {
            switch loss {
            case .quadratic: total += 0.5 * (a[j] - y[j]) * (a[j] - y[j])
            case .crossEntropy:
                let e = Double(Loss.crossEntropyEpsilon)
                let c = min(max(a[j], e), 1 - e)
                total -= y[j] * log(c) + (1 - y[j]) * log(1 - c)
            }
        }
        return total
    }

    public func cost(_ loss: Loss, x: [Double], y: [Double]) -> Double {
        ReferenceNetwork.cost(loss, output: activations(x).last!, target: y)
    }

    /// Backpropagation for one sample: δ_L = ∇_a C ⊙ σ′(z_L), δ_l = (W_{l+1}ᵀ·δ_{l+1}) ⊙ σ′(z_l),
    /// ∂C/∂W_l = δ_l·a_{l−1}ᵀ, ∂C/∂b_l = δ_l.
    public func gradients(_ loss: Loss, x: [Double], y: [Double]) -> (weights: [[Double]], biases: [[Double]]) {
        let a = activations(x)
        let L = sizes.count - 1
        var deltas = [[Double]](repeating: [], count: L + 1)
        let output = a[L]
        deltas[L] = (0..<output.count).map { j in
            let gradient = loss == .quadratic
                ? output[j] - y[j]
                : (output[j] - y[j]) / (output[j] * (1 - output[j]))  // ∂C/∂a of cross-entropy
            return gradient * output[j] * (1 - output[j])
        }
        if L >= 2 {
            for l in stride(from: L - 1, through: 1, by: -1) {
                deltas[l] = (0..<sizes[l]).map { i in
                    var sum = 0.0
                    for o in 0..<sizes[l + 1] { sum += weights[l][o * sizes[l] + i] * deltas[l + 1][o] }
                    return sum * a[l][i] * (1 - a[l][i])
                }
            }
        }
        var gW: [[Double]] = [], gb: [[Double]] = []
        for l in 1...L {
            var g = [Double](repeating: 0, count: sizes[l] * sizes[l - 1])
            for o in 0..<sizes[l] {
                for i in 0..<sizes[l - 1] { g[o * sizes[l - 1] + i] = deltas[l][o] * a[l - 1][i] }
            }
            gW.append(g)
            gb.append(deltas[l])
        }
        return (gW, gb)
    }

    /// One step of the SGD rule on a batch, from the per-sample gradients.
    public mutating func step(
        _ loss: Loss, batch: [(x: [Double], y: [Double])], n: Int, eta: Double, lambda: Double, mu: Double
    ) {
        let m = Double(batch.count)
        var sumW = weights.map { [Double](repeating: 0, count: $0.count) }
        var sumB = biases.map { [Double](repeating: 0, count: $0.count) }
        for sample in batch {
            let g = gradients(loss, x: sample.x, y: sample.y)
            for l in 0..<weights.count {
                for k in 0..<sumW[l].count { sumW[l][k] += g.weights[l][k] }
                for k in 0..<sumB[l].count { sumB[l][k] += g.biases[l][k] }
            }
        }
        for l in 0..<weights.count {
            for k in 0..<weights[l].count {
                weightVelocities[l][k] = mu * weightVelocities[l][k] - eta * (sumW[l][k] / m + lambda / Double(n) * weights[l][k])
                weights[l][k] += weightVelocities[l][k]
            }
            for k in 0..<biases[l].count {
                biasVelocities[l][k] = mu * biasVelocities[l][k] - eta * sumB[l][k] / m
                biases[l][k] += biasVelocities[l][k]
            }
        }
    }

    /// Trains as `Trainer` does: the same per-epoch order (shuffled by the same generator), the
    /// same batches, the same rule.
    public mutating func train(_ data: Dataset, options: TrainingOptions) {
        let n = data.count
        var order = (0..<Int32(n)).map { $0 }
        var generator = Trainer.shuffleGenerator(seed: options.seed)
        for _ in 0..<options.epochs {
            if options.shuffle { generator.shuffle(&order) }
            for start in stride(from: 0, to: n, by: options.batchSize) {
                let batch = order[start..<min(start + options.batchSize, n)].map { index in
                    let s = Int(index)
                    return (
                        x: data.inputs[(s * data.inputSize)..<((s + 1) * data.inputSize)].map(Double.init),
                        y: data.targets[(s * data.outputSize)..<((s + 1) * data.outputSize)].map(Double.init))
                }
                step(
                    options.loss, batch: batch, n: n, eta: Double(options.learningRate),
                    lambda: Double(options.l2), mu: Double(options.momentum))
            }
        }
    }

    /// All parameters, layer by layer, weights before biases.
    public var flatParameters: [Double] { zip(weights, biases).flatMap { $0 + $1 } }
}

// Network.flatParameters (BPNet) lists parameters in the order of `ReferenceNetwork`.

// relativeError(_:_:), the norm every parity test states, is BPNet's own (Verification), so that
// `bpnet verify` and the tests measure alike.
