import BPNet
import Foundation

/// The float64 reference, written straight from the equations, one sample at a time, in plain
/// loops. It shares nothing with the library but the parameters it starts from, the sample order
/// (`Trainer.shuffleGenerator`) and the dropout masks (`DropoutMask`, a pure function that the
/// tests check against known Philox outputs).
///
/// It runs any architecture: dense layers as below, convolutions, max pooling and flatten
/// through `ImageReference` (NCHW, PyTorch's rules), and batch norm, which couples a batch's
/// samples: so a pass runs a whole batch, stage by stage, each sample in plain loops. Stage s is
/// the architecture's layer s; `sizes[s]` counts the values at its input, and `sizes[s + 1]` at its output.
public struct ReferenceNetwork {
    public var architecture: Architecture
    public var sizes: [Int]
    public var functions: [Activation]
    /// weights[l][o * n_in + i] is weight layer l's W[o, i]; a convolution's is [Cout, Cin, K, K].
    public var weights: [[Double]]
    public var biases: [[Double]]
    /// Batch norm's ε and the running statistics' momentum: PyTorch's defaults.
    public static let batchNormEpsilon = 1e-5, batchNormMomentum = 0.1
    /// Each batch norm's γ, β and running statistics.
    public var normalizations: [(scale: [Double], shift: [Double], runningMean: [Double], runningVariance: [Double])]
    /// Optimizer state of γ and β: [batch norm][γ, β][state index][element].
    private var normalizationState: [[[[Double]]]]
    /// Optimizer state per parameter: [layer][state index][element].
    private var weightState: [[[Double]]]
    private var biasState: [[[Double]]]
    private var step = 0
    /// The input's shape, then each stage's output shape.
    private let shapes: [Architecture.Shape]

    /// One stage of the architecture: a weight layer (its index), or a layer without weights.
    enum Stage {
        case dense(layer: Int)
        case conv(layer: Int, ImageReference.Convolution)
        case pool(ImageReference.MaxPool)
        case average(ImageReference.AveragePool)
        case flatten
        /// Batch norm `index` over `channels` channels of the stage before.
        case normalize(index: Int, channels: Int)
    }

    var stages: [Stage] {
        var weightLayer = 0, normalization = 0
        return architecture.layers.indices.map { s in
            func image(_ shape: Architecture.Shape) -> ImageReference.Shape {
                let d = shape.dimensions
                return ImageReference.Shape(channels: d[0], height: d[1], width: d[2])
            }
            switch architecture.layers[s] {
            case .dense:
                defer { weightLayer += 1 }
                return .dense(layer: weightLayer)
            case .conv2d(let c, let k, let stride, let p):
                defer { weightLayer += 1 }
                return .conv(
                    layer: weightLayer,
                    ImageReference.Convolution(input: image(shapes[s]), outputChannels: c, kernel: k, stride: stride, padding: p))
            case .maxPool2d(let k, let stride): return .pool(ImageReference.MaxPool(input: image(shapes[s]), size: k, stride: stride))
            case .avgPool2d(let k, let stride): return .average(ImageReference.AveragePool(input: image(shapes[s]), size: k, stride: stride))
            case .globalAvgPool: return .average(ImageReference.AveragePool(global: image(shapes[s])))
            case .flatten: return .flatten
            case .batchNorm:
                defer { normalization += 1 }
                return .normalize(index: normalization, channels: shapes[s].dimensions[0])
            }
        }
    }

    /// The activation stage s applies: a weight layer's own, unless a batch norm follows it,
    /// which applies it instead; nil for the other stages. With the weight layer's index.
    func activation(at s: Int, _ stages: [Stage]) -> (layer: Int, function: Activation)? {
        switch stages[s] {
        case .dense(let l), .conv(let l, _):
            if s + 1 < stages.count, case .normalize = stages[s + 1] { return nil }
            return (l, functions[l])
        case .normalize:
            switch stages[s - 1] {
            case .dense(let l), .conv(let l, _): return (l, functions[l])
            case .pool, .average, .flatten, .normalize: return nil
            }
        case .pool, .average, .flatten: return nil
        }
    }

    public init(_ network: Network) {
        architecture = network.architecture
        shapes = [network.architecture.input] + network.shapes
        sizes = network.sizes
        functions = network.activations
        weights = network.layers.map { $0.weights.map(Double.init) }
        biases = network.layers.map { $0.biases.map(Double.init) }
        weightState = weights.map { w in [w.map { _ in 0.0 }, w.map { _ in 0.0 }] }
        biasState = biases.map { b in [b.map { _ in 0.0 }, b.map { _ in 0.0 }] }
        normalizations = network.normalizations.map {
            ($0.scale.map(Double.init), $0.shift.map(Double.init), $0.runningMean.map(Double.init), $0.runningVariance.map(Double.init))
        }
        normalizationState = normalizations.map { b in [b.scale, b.shift].map { v in [v.map { _ in 0.0 }, v.map { _ in 0.0 }] } }
    }

    /// f(z) for one layer's pre-activations.
    static func activate(_ f: Activation, _ z: [Double]) -> [Double] {
        switch f.kind {
        case .sigmoid: return z.map { 1 / (1 + exp(-$0)) }
        case .tanh: return z.map { tanh($0) }
        case .relu: return z.map { max($0, 0) }
        case .leakyRelu: return z.map { $0 > 0 ? $0 : Double(f.parameter) * $0 }
        case .gelu: return z.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        case .identity: return z
        case .softmax:
            let top = z.max() ?? 0
            let e = z.map { exp($0 - top) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }

    /// f′(z) from z, element-wise (softmax's Jacobian is handled by its loss).
    static func derivative(_ f: Activation, _ z: Double) -> Double {
        switch f.kind {
        case .sigmoid:
            let s = 1 / (1 + exp(-z))
            return s * (1 - s)
        case .tanh: return 1 - tanh(z) * tanh(z)
        case .relu: return z > 0 ? 1 : 0
        case .leakyRelu: return z > 0 ? 1 : Double(f.parameter)
        // Φ(z) + z·φ(z).
        case .gelu: return 0.5 * (1 + erf(z / 2.0.squareRoot())) + z * exp(-z * z / 2) / (2 * Double.pi).squareRoot()
        case .identity, .softmax: return 1
        }
    }

    /// One batch's pass (b indexes its samples): a_0 = x; at a weight stage z = W·a + b (a
    /// convolution's is a cross-correlation) and a = f(z), times the dropout mask for hidden weight
    /// layers when `masks` is given (masks[b][s]); pooling takes each window's maximum; flatten keeps
    /// NCHW order. A batch norm's z is γ·x̂ + β, x̂ = (x − μ)/√(σ² + ε) with μ and σ² (biased) over
    /// the batch and the channel's positions in training, the running statistics otherwise; a = f(z)
    /// with the activation of the weight layer before it, which then applies none. Returns z and a
    /// per stage output (z empty where a stage applies no activation), per sample, and the batch
    /// statistics of each batch norm (training).
    public func pass(
        _ xs: [[Double]], masks: [[[Double]]]? = nil, training: Bool = true
    ) -> (z: [[[Double]]], a: [[[Double]]], statistics: [(mean: [Double], variance: [Double])]) {
        var all = [xs], zs: [[[Double]]] = [xs.map { _ in [] }]
        var statistics: [(mean: [Double], variance: [Double])] = []
        let weightLayers = weights.count
        let stages = self.stages
        for (s, stage) in stages.enumerated() {
            let previous = all[s]
            var z = previous.map { _ in [Double]() }, a: [[Double]]
            switch stage {
            case .dense(let l):
                z = previous.map { previous in
                    (0..<sizes[s + 1]).map { o in
                        (0..<sizes[s]).reduce(biases[l][o]) { $0 + weights[l][o * sizes[s] + $1] * previous[$1] }
                    }
                }
                a = z
            case .conv(let l, let convolution):
                z = previous.map { convolution.forward($0, weight: weights[l], bias: biases[l]) }
                a = z
            case .pool(let pool): a = previous.map { pool.forward($0).output }
            case .average(let pool): a = previous.map { pool.forward($0) }
            case .flatten: a = previous
            case .normalize(let b, let channels):
                let positions = sizes[s + 1] / channels
                let (mean, variance) = training
                    ? ReferenceNetwork.batchStatistics(previous, channels: channels)
                    : (normalizations[b].runningMean, normalizations[b].runningVariance)
                statistics.append((mean, variance))
                z = previous.map { x in
                    x.indices.map { i in
                        let c = i / positions
                        let normalized = (x[i] - mean[c]) / (variance[c] + ReferenceNetwork.batchNormEpsilon).squareRoot()
                        return normalizations[b].scale[c] * normalized + normalizations[b].shift[c]
                    }
                }
                a = z
            }
            if let (l, f) = activation(at: s, stages) {
                a = z.map { ReferenceNetwork.activate(f, $0) }
                if let masks, l + 1 < weightLayers { a = a.indices.map { b in zip(a[b], masks[b][s + 1]).map { $0 * $1 } } }
            } else if case .dense = stage {
                z = z.map { _ in [] }
            } else if case .conv = stage {
                z = z.map { _ in [] }
            }
            zs.append(z)
            all.append(a)
        }
        return (zs, all, statistics)
    }

    /// Each channel's mean and biased variance over a batch of NCHW samples (or of dense units).
    static func batchStatistics(_ xs: [[Double]], channels: Int) -> (mean: [Double], variance: [Double]) {
        let positions = xs[0].count / channels
        let count = Double(xs.count * positions)
        let mean = (0..<channels).map { c in xs.reduce(0.0) { total, x in (0..<positions).reduce(total) { $0 + x[c * positions + $1] } } / count }
        let variance = (0..<channels).map { c in
            xs.reduce(0.0) { total, x in (0..<positions).reduce(total) { $0 + (x[c * positions + $1] - mean[c]) * (x[c * positions + $1] - mean[c]) } } / count
        }
        return (mean, variance)
    }

    /// One sample's activations, in evaluation (batch norms with their running statistics).
    public func activations(_ x: [Double]) -> [[Double]] { pass([x], training: false).a.map { $0[0] } }

    /// The cost of one sample. The logarithmic losses use the same clamp as the library's values.
    public static func cost(_ loss: Loss, output a: [Double], target y: [Double]) -> Double {
        let e = Double(Loss.epsilon)
        var total = 0.0
        for j in 0..<a.count {
            switch loss {
            case .quadratic: total += 0.5 * (a[j] - y[j]) * (a[j] - y[j])
            case .crossEntropy:
                let c = min(max(a[j], e), 1 - e)
                total -= y[j] * log(c) + (1 - y[j]) * log(1 - c)
            case .logLikelihood:
                if y[j] != 0 { total -= y[j] * log(min(max(a[j], e), 1)) }
            }
        }
        return total
    }

    /// One sample's cost, in evaluation.
    public func cost(_ loss: Loss, x: [Double], y: [Double]) -> Double {
        ReferenceNetwork.cost(loss, output: activations(x).last!, target: y)
    }

    /// A batch's summed cost in training mode (batch norms with the batch's statistics).
    public func batchCost(_ loss: Loss, xs: [[Double]], ys: [[Double]]) -> Double {
        let outputs = pass(xs).a.last!
        return zip(outputs, ys).reduce(0.0) { $0 + ReferenceNetwork.cost(loss, output: $1.0, target: $1.1) }
    }

    /// Gradients of one sample's cost (a batch of one).
    public func gradients(_ loss: Loss, x: [Double], y: [Double], masks: [[Double]]? = nil) -> (weights: [[Double]], biases: [[Double]]) {
        let g = gradients(loss, xs: [x], ys: [y], masks: masks.map { [$0] })
        return (g.weights, g.biases)
    }

    /// Backpropagation of a batch's summed cost, from ∂C/∂a_L and the chain rule through z:
    /// δ_L = ∂C/∂z_L; at a dense stage ∂C/∂a_in = Wᵀ·δ, ∂C/∂W = δ·a_inᵀ, ∂C/∂b = δ; a convolution's
    /// and a pooling's come from `ImageReference`; flatten passes ∂C/∂a on; a batch norm's, over
    /// the batch's R = samples·positions values of a channel: ∂C/∂γ = Σ δ·x̂, ∂C/∂β = Σ δ,
    /// ∂C/∂x = γ/√(σ² + ε)·(δ − Σδ/R − x̂·Σ(δ·x̂)/R); and where a stage applies a hidden layer's
    /// activation, δ = ∂C/∂a ⊙ mask ⊙ f′(z). Sums over the batch's samples.
    public func gradients(
        _ loss: Loss, xs: [[Double]], ys: [[Double]], masks: [[[Double]]]? = nil
    ) -> (weights: [[Double]], biases: [[Double]], scales: [[Double]], shifts: [[Double]], statistics: [(mean: [Double], variance: [Double])]) {
        let (z, a, statistics) = pass(xs, masks: masks)
        let stages = self.stages
        let last = stages.count
        let samples = xs.indices
        let output = functions[functions.count - 1]
        var delta: [[Double]] = samples.map { b in
            let (out, y) = (a[last][b], ys[b])
            switch (loss, output.kind) {
            case (.logLikelihood, .softmax), (.crossEntropy, .sigmoid):
                // ∂C/∂z of these pairs, derived through the softmax Jacobian or σ′: a − y.
                return (0..<out.count).map { out[$0] - y[$0] }
            default:
                return (0..<out.count).map { j in
                    let dCda = loss == .quadratic ? out[j] - y[j] : (out[j] - y[j]) / (out[j] * (1 - out[j]))
                    return dCda * ReferenceNetwork.derivative(output, z[last][b][j])
                }
            }
        }
        var gW = weights.map { [Double](repeating: 0, count: $0.count) }, gb = biases.map { [Double](repeating: 0, count: $0.count) }
        var gScale = normalizations.map { [Double](repeating: 0, count: $0.scale.count) }, gShift = gScale
        // `delta` is ∂C/∂z at the output of a stage that applies an activation, else ∂C/∂a.
        for s in stride(from: last - 1, through: 0, by: -1) {
            var inputGradient: [[Double]]
            switch stages[s] {
            case .dense(let l):
                let (n, m) = (sizes[s], sizes[s + 1])
                inputGradient = samples.map { b in (0..<n).map { i in (0..<m).reduce(0.0) { $0 + weights[l][$1 * n + i] * delta[b][$1] } } }
                for b in samples {
                    for o in 0..<m {
                        for i in 0..<n { gW[l][o * n + i] += delta[b][o] * a[s][b][i] }
                        gb[l][o] += delta[b][o]
                    }
                }
            case .conv(let l, let convolution):
                inputGradient = samples.map { b in
                    let g = convolution.backward(a[s][b], weight: weights[l], outputGradient: delta[b])
                    for k in g.weight.indices { gW[l][k] += g.weight[k] }
                    for k in g.bias.indices { gb[l][k] += g.bias[k] }
                    return g.input
                }
            case .pool(let pool):
                inputGradient = samples.map { pool.backward(outputGradient: delta[$0], argmax: pool.forward(a[s][$0]).argmax) }
            case .average(let pool):
                inputGradient = samples.map { pool.backward(outputGradient: delta[$0]) }
            case .flatten:
                inputGradient = delta
            case .normalize(let k, let channels):
                let positions = sizes[s + 1] / channels
                let count = Double(xs.count * positions)
                let (mean, variance) = statistics[k]
                let inverseStd = variance.map { 1 / ($0 + ReferenceNetwork.batchNormEpsilon).squareRoot() }
                func normalized(_ b: Int, _ i: Int) -> Double { (a[s][b][i] - mean[i / positions]) * inverseStd[i / positions] }
                var sumDelta = [Double](repeating: 0, count: channels), sumProduct = sumDelta
                for b in samples {
                    for i in 0..<sizes[s + 1] {
                        sumDelta[i / positions] += delta[b][i]
                        sumProduct[i / positions] += delta[b][i] * normalized(b, i)
                    }
                }
                (gScale[k], gShift[k]) = (sumProduct, sumDelta)
                inputGradient = samples.map { b in
                    (0..<sizes[s + 1]).map { i in
                        let c = i / positions
                        return normalizations[k].scale[c] * inverseStd[c]
                            * (delta[b][i] - sumDelta[c] / count - normalized(b, i) * sumProduct[c] / count)
                    }
                }
            }
            // Below a stage that applies a hidden layer's activation: through its mask and f′.
            if s > 0, let (_, f) = activation(at: s - 1, stages) {
                inputGradient = samples.map { b in
                    inputGradient[b].indices.map { i in inputGradient[b][i] * (masks?[b][s][i] ?? 1) * ReferenceNetwork.derivative(f, z[s][b][i]) }
                }
            }
            delta = inputGradient
        }
        // A weight layer that a batch norm follows: Σ δ over the batch is 0 at its output (the
        // batch norm subtracts the mean), so its bias's gradient is 0, exactly.
        for s in stages.indices where activation(at: s, stages) == nil {
            if case .dense(let l) = stages[s] { gb[l] = gb[l].map { _ in 0 } }
            if case .conv(let l, _) = stages[s] { gb[l] = gb[l].map { _ in 0 } }
        }
        return (gW, gb, gScale, gShift, statistics)
    }

    /// One optimizer step on a batch, from the batch's summed gradients, with the rules exactly as
    /// the README states them; batch norms' running statistics move by momentum 0.1 towards the
    /// batch's mean and unbiased variance. `masks[b]` are sample b's dropout masks. With `ranks`,
    /// the batch is split into contiguous shards as a distributed run splits it, each shard's
    /// batch norms normalize by its own statistics, and the running statistics follow shard 0's.
    public mutating func step(
        _ options: TrainingOptions, batch: [(x: [Double], y: [Double])], masks: [[[Double]]]?, n: Int, eta: Double, ranks: Int = 1
    ) {
        step += 1
        let m = Double(batch.count)
        var sumW = weights.map { $0.map { _ in 0.0 } }, sumB = biases.map { $0.map { _ in 0.0 } }
        var sumScale = normalizations.map { $0.scale.map { _ in 0.0 } }, sumShift = sumScale
        var statistics: [(mean: [Double], variance: [Double])] = [], firstShardRows = 0
        for rank in 0..<ranks {
            let shard = BatchShard(rows: batch.count, rank: rank, size: ranks)
            guard shard.rows > 0 else { continue }
            let part = shard.offset..<(shard.offset + shard.rows)
            let g = gradients(options.loss, xs: batch[part].map(\.x), ys: batch[part].map(\.y), masks: masks.map { Array($0[part]) })
            func add(_ sums: inout [[Double]], _ values: [[Double]]) {
                for l in sums.indices { for k in sums[l].indices { sums[l][k] += values[l][k] } }
            }
            add(&sumW, g.weights)
            add(&sumB, g.biases)
            add(&sumScale, g.scales)
            add(&sumShift, g.shifts)
            if rank == 0 { (statistics, firstShardRows) = (g.statistics, shard.rows) }
        }
        let momentum = ReferenceNetwork.batchNormMomentum
        for (k, (mean, variance)) in statistics.enumerated() {
            let count = Double(firstShardRows * sizes[normalizationStage(k) + 1] / mean.count)
            for c in mean.indices {
                normalizations[k].runningMean[c] = (1 - momentum) * normalizations[k].runningMean[c] + momentum * mean[c]
                normalizations[k].runningVariance[c] =
                    (1 - momentum) * normalizations[k].runningVariance[c] + momentum * variance[c] * count / max(count - 1, 1)
            }
        }
        // Clipping by global norm, as torch.nn.utils.clip_grad_norm_: every gradient times
        // min(1, c/(‖g‖ + 1e-6)), ‖g‖ over the weights' and the biases' gradients together.
        let lambda = Double(options.l2) / Double(n), mu = Double(options.momentum)
        if let clipNorm = options.clipNorm {
            let squares = (sumW + sumB + sumScale + sumShift).reduce(0.0) { total, sums in sums.reduce(total) { $0 + ($1 / m) * ($1 / m) } }
            let coefficient = min(1, Double(clipNorm) / (squares.squareRoot() + 1e-6))
            sumW = sumW.map { $0.map { $0 * coefficient } }
            sumB = sumB.map { $0.map { $0 * coefficient } }
            sumScale = sumScale.map { $0.map { $0 * coefficient } }
            sumShift = sumShift.map { $0.map { $0 * coefficient } }
        }
        // γ and β step as biases do: no L2, no decoupled decay.
        for k in normalizations.indices {
            for c in normalizations[k].scale.indices {
                update(&normalizations[k].scale[c], &normalizationState[k][0], c, g: sumScale[k][c] / m, l2: 0, decay: 0, options, eta: eta, mu: mu)
                update(&normalizations[k].shift[c], &normalizationState[k][1], c, g: sumShift[k][c] / m, l2: 0, decay: 0, options, eta: eta, mu: mu)
            }
        }
        for l in 0..<weights.count {
            for k in 0..<weights[l].count {
                var decay = 0.0, l2 = lambda
                if case .adamw(_, _, _, let wd) = options.optimizer { (decay, l2) = (eta * Double(wd), 0) }
                update(&weights[l][k], &weightState[l], k, g: sumW[l][k] / m, l2: l2, decay: decay, options, eta: eta, mu: mu)
            }
            for k in 0..<biases[l].count {
                update(&biases[l][k], &biasState[l], k, g: sumB[l][k] / m, l2: 0, decay: 0, options, eta: eta, mu: mu)
            }
        }
    }

    private func update(
        _ p: inout Double, _ state: inout [[Double]], _ k: Int, g gradient: Double, l2: Double, decay: Double,
        _ options: TrainingOptions, eta: Double, mu: Double
    ) {
        switch options.optimizer {
        case .sgd:
            let g = gradient + l2 * p
            state[0][k] = mu * state[0][k] - eta * g
            p += state[0][k]
        case .nesterov:
            let g = gradient + l2 * p
            state[0][k] = mu * state[0][k] - eta * g
            p += mu * state[0][k] - eta * g
        case .adam(let b1, let b2, let eps), .adamw(let b1, let b2, let eps, _):
            let (beta1, beta2, epsilon) = (Double(b1), Double(b2), Double(eps))
            p -= decay * p
            let g = gradient + l2 * p
            state[0][k] = beta1 * state[0][k] + (1 - beta1) * g
            state[1][k] = beta2 * state[1][k] + (1 - beta2) * g * g
            let mHat = state[0][k] / (1 - pow(beta1, Double(step)))
            let sHat = state[1][k] / (1 - pow(beta2, Double(step)))
            p -= eta * mHat / (sHat.squareRoot() + epsilon)
        case .rmsprop(let a, let eps):
            // torch.optim.RMSprop, not centered: state 0 is square_avg, state 1 momentum_buffer.
            let (alpha, epsilon) = (Double(a), Double(eps))
            let g = gradient + l2 * p
            state[0][k] = alpha * state[0][k] + (1 - alpha) * g * g
            let change = g / (state[0][k].squareRoot() + epsilon)
            if mu > 0 {
                state[1][k] = mu * state[1][k] + change
                p -= eta * state[1][k]
            } else {
                p -= eta * change
            }
        }
    }

    /// Trains as `Trainer` does: the same per-epoch order (shuffled by the same generator), the
    /// same batches, the same schedule, the same dropout masks, the same rule.
    /// A training sample as the options' augmentation gives it, from the definition: out[c, y, x] =
    /// in[c, y + dy, x' + dx] (0 outside), x' = W − 1 − x when flipped, with the sample's draw.
    public static func augment(_ x: [Double], shape: Architecture.Shape, options: TrainingOptions, epoch: Int, sample: Int) -> [Double] {
        guard !options.augment.isNone, case .image(let channels, let height, let width) = shape else { return x }
        let (dy, dx, flip) = options.augment.draw(seed: options.seed, epoch: epoch, sample: sample)
        var out = [Double](repeating: 0, count: x.count)
        for c in 0..<channels {
            for y in 0..<height {
                for column in 0..<width {
                    let (sy, sx) = (y + dy, (flip ? width - 1 - column : column) + dx)
                    if (0..<height).contains(sy), (0..<width).contains(sx) {
                        out[(c * height + y) * width + column] = x[(c * height + sy) * width + sx]
                    }
                }
            }
        }
        return out
    }

    public mutating func train(_ data: Dataset, options: TrainingOptions, ranks: Int = 1) {
        let n = data.count
        var order = (0..<Int32(n)).map { $0 }
        var generator = Trainer.shuffleGenerator(seed: options.seed)
        let batches = (n + options.batchSize - 1) / options.batchSize
        var t = 0
        for epoch in 1...options.epochs {
            if options.shuffle { generator.shuffle(&order) }
            for start in stride(from: 0, to: n, by: options.batchSize) {
                t += 1
                let rows = order[start..<min(start + options.batchSize, n)]
                let batch = rows.map { index in
                    let s = Int(index)
                    let x = data.inputs[(s * data.inputSize)..<((s + 1) * data.inputSize)].map(Double.init)
                    return (
                        x: ReferenceNetwork.augment(x, shape: architecture.input, options: options, epoch: epoch, sample: s),
                        y: data.targets[(s * data.outputSize)..<((s + 1) * data.outputSize)].map(Double.init))
                }
                var masks: [[[Double]]]?
                if options.dropout > 0 {
                    // Batch row r's mask for layer l is elements [r·n_l, (r+1)·n_l) of the layer's draw.
                    // Stage output l is masked when it is a hidden weight layer's; the draw's layer
                    // number is the weight layer's, from 1, and its elements are NCHW.
                    let stages = self.stages
                    let layerMasks = sizes.indices.map { l -> [Float] in
                        guard l > 0, l < sizes.count - 1, let (k, _) = activation(at: l - 1, stages), k + 1 < weights.count else { return [] }
                        return DropoutMask.values(
                            count: rows.count * sizes[l], rate: options.dropout, seed: Trainer.dropoutSeed(options.seed),
                            step: UInt64(t), layer: k + 1)
                    }
                    masks = (0..<rows.count).map { r in
                        sizes.indices.map { l in
                            layerMasks[l].isEmpty ? [] : layerMasks[l][(r * sizes[l])..<((r + 1) * sizes[l])].map(Double.init)
                        }
                    }
                }
                let eta = Double(
                    options.schedule.learningRate(options.learningRate, step: t, epoch: epoch, totalSteps: options.epochs * batches))
                step(options, batch: batch, masks: masks, n: n, eta: eta, ranks: ranks)
            }
        }
    }

    /// The stage of batch norm `k`.
    func normalizationStage(_ k: Int) -> Int {
        stages.firstIndex { if case .normalize(k, _) = $0 { return true } else { return false } }!
    }

    /// All parameters in arena order: layer by layer, weights before biases, a batch norm's γ
    /// and β where it stands.
    public var flatParameters: [Double] {
        stages.flatMap { stage -> [Double] in
            switch stage {
            case .dense(let l), .conv(let l, _): return weights[l] + biases[l]
            case .normalize(let k, _): return normalizations[k].scale + normalizations[k].shift
            case .pool, .average, .flatten: return []
            }
        }
    }

    /// Every batch norm's running mean, then its running variance.
    public var flatRunningStatistics: [Double] { normalizations.flatMap { $0.runningMean + $0.runningVariance } }
}

// Network.flatParameters (BPNet) lists parameters in the order of `ReferenceNetwork`.

// relativeError(_:_:), the norm every parity test states, is BPNet's own (Verification), so that
// `bpnet verify` and the tests measure alike.
