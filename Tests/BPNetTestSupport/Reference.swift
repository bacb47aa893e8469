import BPNet
import Foundation

/// The float64 reference, written straight from the equations, one sample at a time, in plain
/// loops. It shares nothing with the library but the parameters it starts from, the sample order
/// (`Trainer.shuffleGenerator`) and the dropout masks (`DropoutMask`, a pure function that the
/// tests check against known Philox outputs).
///
/// It runs any architecture: dense layers as below, convolutions, max pooling and flatten
/// through `ImageReference` (NCHW, PyTorch's rules). Stage s is the architecture's layer s;
/// `sizes[s]` counts the values at its input, and `sizes[s + 1]` at its output.
public struct ReferenceNetwork {
    public var architecture: Architecture
    public var sizes: [Int]
    public var functions: [Activation]
    /// weights[l][o * n_in + i] is weight layer l's W[o, i]; a convolution's is [Cout, Cin, K, K].
    public var weights: [[Double]]
    public var biases: [[Double]]
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
    }

    var stages: [Stage] {
        var weightLayer = 0
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
            }
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

    /// a_0 = x; at a weight stage z = W·a + b (a convolution's is a cross-correlation) and
    /// a = f(z), times the dropout mask for hidden weight layers when `masks` is given; pooling
    /// takes each window's maximum; flatten keeps NCHW order. Returns z and a per stage output
    /// (z empty where a stage has no weights).
    public func pass(_ x: [Double], masks: [[Double]]? = nil) -> (z: [[Double]], a: [[Double]]) {
        var all = [x], zs: [[Double]] = [[]]
        let weightLayers = weights.count
        for (s, stage) in stages.enumerated() {
            let previous = all[s]
            var z: [Double] = [], a: [Double]
            switch stage {
            case .dense(let l):
                z = [Double](repeating: 0, count: sizes[s + 1])
                for o in 0..<sizes[s + 1] {
                    z[o] = biases[l][o]
                    for i in 0..<sizes[s] { z[o] += weights[l][o * sizes[s] + i] * previous[i] }
                }
                a = ReferenceNetwork.activate(functions[l], z)
            case .conv(let l, let convolution):
                z = convolution.forward(previous, weight: weights[l], bias: biases[l])
                a = ReferenceNetwork.activate(functions[l], z)
            case .pool(let pool): a = pool.forward(previous).output
            case .average(let pool): a = pool.forward(previous)
            case .flatten: a = previous
            }
            switch stage {
            case .dense(let l), .conv(let l, _):
                if let masks, l + 1 < weightLayers { a = zip(a, masks[s + 1]).map { $0 * $1 } }
            case .pool, .average, .flatten: break
            }
            zs.append(z)
            all.append(a)
        }
        return (zs, all)
    }

    public func activations(_ x: [Double]) -> [[Double]] { pass(x).a }

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

    public func cost(_ loss: Loss, x: [Double], y: [Double]) -> Double {
        ReferenceNetwork.cost(loss, output: activations(x).last!, target: y)
    }

    /// Backpropagation for one sample, from ∂C/∂a_L and the chain rule through z:
    /// δ_L = ∂C/∂z_L; at a dense stage ∂C/∂a_in = Wᵀ·δ, ∂C/∂W = δ·a_inᵀ, ∂C/∂b = δ; a convolution's
    /// and a pooling's come from `ImageReference`; flatten passes ∂C/∂a on; and a hidden weight
    /// layer's δ = ∂C/∂a ⊙ mask ⊙ f′(z).
    public func gradients(
        _ loss: Loss, x: [Double], y: [Double], masks: [[Double]]? = nil
    ) -> (weights: [[Double]], biases: [[Double]]) {
        let (z, a) = pass(x, masks: masks)
        let stages = self.stages
        let last = stages.count
        let output = a[last]
        var delta: [Double]
        switch (loss, functions[functions.count - 1]) {
        case (.logLikelihood, .softmax), (.crossEntropy, .sigmoid):
            // ∂C/∂z of these pairs, derived through the softmax Jacobian or σ′: a − y.
            delta = (0..<output.count).map { output[$0] - y[$0] }
        default:
            delta = (0..<output.count).map { j in
                let dCda = loss == .quadratic ? output[j] - y[j] : (output[j] - y[j]) / (output[j] * (1 - output[j]))
                return dCda * ReferenceNetwork.derivative(functions[functions.count - 1], z[last][j])
            }
        }
        var gW = weights.map { [Double](repeating: 0, count: $0.count) }, gb = biases.map { [Double](repeating: 0, count: $0.count) }
        // `delta` is ∂C/∂z at a weight stage's output, else ∂C/∂a.
        for s in stride(from: last - 1, through: 0, by: -1) {
            var inputGradient: [Double]
            switch stages[s] {
            case .dense(let l):
                let (n, m) = (sizes[s], sizes[s + 1])
                inputGradient = (0..<n).map { i in (0..<m).reduce(0.0) { $0 + weights[l][$1 * n + i] * delta[$1] } }
                for o in 0..<m {
                    for i in 0..<n { gW[l][o * n + i] = delta[o] * a[s][i] }
                }
                gb[l] = delta
            case .conv(let l, let convolution):
                let g = convolution.backward(a[s], weight: weights[l], outputGradient: delta)
                (inputGradient, gW[l], gb[l]) = (g.input, g.weight, g.bias)
            case .pool(let pool):
                inputGradient = pool.backward(outputGradient: delta, argmax: pool.forward(a[s]).argmax)
            case .average(let pool):
                inputGradient = pool.backward(outputGradient: delta)
            case .flatten:
                inputGradient = delta
            }
            // Below a weight layer's output: through its mask and f′.
            if s > 0 {
                switch stages[s - 1] {
                case .dense(let k), .conv(let k, _):
                    inputGradient = inputGradient.indices.map { i in
                        inputGradient[i] * (masks?[s][i] ?? 1) * ReferenceNetwork.derivative(functions[k], z[s][i])
                    }
                case .pool, .average, .flatten: break
                }
            }
            delta = inputGradient
        }
        return (gW, gb)
    }

    /// One optimizer step on a batch, from the per-sample gradients, with the rules exactly as
    /// the README states them. `masks[s]` are sample s's dropout masks.
    public mutating func step(
        _ options: TrainingOptions, batch: [(x: [Double], y: [Double])], masks: [[[Double]]]?, n: Int, eta: Double
    ) {
        step += 1
        let m = Double(batch.count)
        var sumW = weights.map { [Double](repeating: 0, count: $0.count) }
        var sumB = biases.map { [Double](repeating: 0, count: $0.count) }
        for (s, sample) in batch.enumerated() {
            let g = gradients(options.loss, x: sample.x, y: sample.y, masks: masks?[s])
            for l in 0..<weights.count {
                for k in 0..<sumW[l].count { sumW[l][k] += g.weights[l][k] }
                for k in 0..<sumB[l].count { sumB[l][k] += g.biases[l][k] }
            }
        }
        // Clipping by global norm, as torch.nn.utils.clip_grad_norm_: every gradient times
        // min(1, c/(‖g‖ + 1e-6)), ‖g‖ over the weights' and the biases' gradients together.
        if let clipNorm = options.clipNorm {
            let squares = (sumW + sumB).reduce(0.0) { total, sums in sums.reduce(total) { $0 + ($1 / m) * ($1 / m) } }
            let coefficient = min(1, Double(clipNorm) / (squares.squareRoot() + 1e-6))
            sumW = sumW.map { $0.map { $0 * coefficient } }
            sumB = sumB.map { $0.map { $0 * coefficient } }
        }
        let lambda = Double(options.l2) / Double(n), mu = Double(options.momentum)
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

    public mutating func train(_ data: Dataset, options: TrainingOptions) {
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
                        guard l > 0, l < sizes.count - 1 else { return [] }
                        switch stages[l - 1] {
                        case .dense(let k), .conv(let k, _):
                            guard k + 1 < weights.count else { return [] }
                            return DropoutMask.values(
                                count: rows.count * sizes[l], rate: options.dropout, seed: Trainer.dropoutSeed(options.seed),
                                step: UInt64(t), layer: k + 1)
                        case .pool, .average, .flatten: return []
                        }
                    }
                    masks = (0..<rows.count).map { r in
                        sizes.indices.map { l in
                            layerMasks[l].isEmpty ? [] : layerMasks[l][(r * sizes[l])..<((r + 1) * sizes[l])].map(Double.init)
                        }
                    }
                }
                let eta = Double(
                    options.schedule.learningRate(options.learningRate, step: t, epoch: epoch, totalSteps: options.epochs * batches))
                step(options, batch: batch, masks: masks, n: n, eta: eta)
            }
        }
    }

    /// All parameters, layer by layer, weights before biases.
    public var flatParameters: [Double] { zip(weights, biases).flatMap { $0 + $1 } }
}

// Network.flatParameters (BPNet) lists parameters in the order of `ReferenceNetwork`.

// relativeError(_:_:), the norm every parity test states, is BPNet's own (Verification), so that
// `bpnet verify` and the tests measure alike.
