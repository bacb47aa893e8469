import Foundation

extension Verification {
    /// The activation and loss pairs a layer check covers: Nielsen's two, then one of each
    /// other activation, softmax with its log-likelihood, and leaky ReLU at a slope of its own.
    /// Generated from `allCases`, so that a new activation is checked without a line here.
    static let layerPairs: [(activation: Activation, loss: Loss)] =
        [(.sigmoid, .quadratic), (.sigmoid, .crossEntropy)]
        + Activation.allCases.filter { $0 != .sigmoid }.map { ($0, $0 == .softmax ? .logLikelihood : .quadratic) }
        + [((try? Activation.leakyRelu(slope: 0.25)) ?? .leakyRelu, .quadratic)]

    /// One layer's fused forward, output and hidden deltas, fused SGD weight and bias updates,
    /// gradients and batch metrics, for every activation and loss pair, with and without λ and μ,
    /// against the CPU backend.
    public static func layerChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        let shapes: [(rows: Int, inputs: Int, outputs: Int, next: Int)] =
            depth == .quick
            ? [(1, 1, 1, 1), (3, 17, 5, 3), (10, 33, 17, 65), (33, 5, 1, 3)]
            : [(1, 1, 1, 1), (10, 784, 30, 10), (1000, 100, 17, 3), (3, 17, 100, 784), (33, 5, 1, 3)]
        let rates: [(l2: Float, momentum: Float)] =
            depth == .quick ? [(0, 0), (0.003, 0.5)] : [(0, 0), (0.01, 0), (0, 0.9), (0.003, 0.5)]
        var checks: [VerificationCheck] = []
        for (index, (function, loss)) in layerPairs.enumerated() {
            // Nielsen's pairs with every λ and μ; the others with the last, which has both.
            for shape in shapes where !(function == .softmax && shape.outputs == 1) {
                for (l2, momentum) in index < 2 ? rates : [rates[rates.count - 1]] {
                    let name = "layer \(device.family.rawValue) \(function.rawValue) \(loss.rawValue) "
                        + "\(shape.rows)×\(shape.inputs)→\(shape.outputs)→\(shape.next) λ=\(l2) μ=\(momentum)"
                    checks.append(check(name, tolerance: operationTolerance) {
                        let expected = try layerOutputs(cpu, function: function, loss: loss, shape: shape, l2: l2, momentum: momentum)
                        let actual = try layerOutputs(device, function: function, loss: loss, shape: shape, l2: l2, momentum: momentum)
                        var errors: [String: Double] = [:]
                        // Without momentum the velocity is not state (the CPU backend skips it); W is.
                        for (output, values) in expected where momentum != 0 || !["velocity", "fusedVelocity"].contains(output) {
                            errors[output] = relativeError(actual[output] ?? [], values)
                        }
                        // Slots 0 and 2 must stay untouched; the correct count in slot 1 must match exactly.
                        let (mine, theirs) = (actual["metrics"] ?? [], expected["metrics"] ?? [])
                        if mine.count != 6 || mine[3] != theirs[3] || [mine[0], mine[1], mine[4], mine[5]] != [-1, -1, -1, -1] {
                            return (.infinity, "metrics \(mine) vs \(theirs): correct counts or untouched slots differ")
                        }
                        // The fused form computes the same, bit for bit, as the two operations.
                        let fused = actual["fusedMetrics"] ?? []
                        guard actual["fusedOutputDelta"] == actual["outputDelta"], fused.count == 6, fused[4] == mine[2], fused[5] == mine[3]
                        else { return (.infinity, "the fused metrics and output delta differ from the two operations") }
                        for (fused, separate) in [
                            ("fusedWeightGradient", "weightGradient"), ("fusedBiasGradient", "biasGradient"), ("fusedWeights", "weights"),
                            ("fusedVelocity", "velocity"), ("fusedBias", "bias"), ("fusedBiasVelocity", "biasVelocity"),
                        ] where actual[fused] != actual[separate] {
                            return (.infinity, "the layer's one-call \(separate) differs from the two operations'")
                        }
                        return worst(errors)
                    })
                }
            }
        }
        return checks
    }

    /// The operations of one layer on `backend`, fused where the backend fuses them. A softmax
    /// layer's hidden delta is checked with ReLU, since softmax is never a hidden layer.
    static func layerOutputs(
        _ backend: any Backend, function: Activation, loss: Loss, shape: (rows: Int, inputs: Int, outputs: Int, next: Int),
        l2: Float, momentum: Float
    ) throws -> [String: [Float]] {
        let (rows, inputs, outputs, next) = shape
        let x = try backend.makeBuffer(uniform(rows * inputs, seed: 1))
        let w = try backend.makeBuffer(uniform(outputs * inputs, seed: 2, in: -0.5...0.5))
        let b = try backend.makeBuffer(uniform(outputs, seed: 3))
        let a = try backend.makeBuffer(count: rows * outputs)
        try backend.linear(input: x, weights: w, bias: b, output: a, rows: rows, inputs: inputs, outputs: outputs, activation: function)
        let y = try backend.makeBuffer(uniform(rows * outputs, seed: 4, in: 0...1))
        let d = try backend.makeBuffer(count: rows * outputs)
        try backend.outputDelta(loss, output: function, activation: a, target: y, delta: d, count: rows * outputs)
        let outputDelta = try backend.download(d)
        let deltaNext = try backend.makeBuffer(uniform(rows * next, seed: 5))
        let wNext = try backend.makeBuffer(uniform(next * outputs, seed: 6))
        let hidden = try backend.makeBuffer(count: rows * outputs)
        try backend.hiddenDelta(
            deltaNext: deltaNext, weightsNext: wNext, activation: a, delta: hidden, rows: rows, units: outputs, nextUnits: next,
            function: function == .softmax ? .relu : function)
        let gW = try backend.makeBuffer(count: outputs * inputs), gb = try backend.makeBuffer(count: outputs)
        try backend.weightGradient(delta: d, input: x, gradient: gW, rows: rows, samples: rows, outputs: outputs, inputs: inputs)
        try backend.biasGradient(delta: d, gradient: gb, rows: rows, samples: rows, outputs: outputs)
        let v = try backend.makeBuffer(uniform(outputs * inputs, seed: 7, in: -0.1...0.1))
        let vb = try backend.makeBuffer(uniform(outputs, seed: 8, in: -0.1...0.1))
        try backend.updateWeights(
            weights: w, velocity: v, delta: d, input: x, rows: rows, samples: rows, outputs: outputs, inputs: inputs,
            learningRate: 0.7, l2: l2, momentum: momentum)
        try backend.updateBias(bias: b, velocity: vb, delta: d, rows: rows, samples: rows, outputs: outputs, learningRate: 0.7, momentum: momentum)
        // The training step's forms: each layer's gradients, or its SGD update, in one call (one
        // launch on the device), from the same starting values.
        let fusedGW = try backend.makeBuffer(count: outputs * inputs), fusedGb = try backend.makeBuffer(count: outputs)
        try backend.layerGradients(
            delta: d, input: x, weightGradient: fusedGW, biasGradient: fusedGb, rows: rows, samples: rows, outputs: outputs, inputs: inputs)
        let fusedW = try backend.makeBuffer(uniform(outputs * inputs, seed: 2, in: -0.5...0.5))
        let fusedB = try backend.makeBuffer(uniform(outputs, seed: 3))
        let fusedV = try backend.makeBuffer(uniform(outputs * inputs, seed: 7, in: -0.1...0.1))
        let fusedVb = try backend.makeBuffer(uniform(outputs, seed: 8, in: -0.1...0.1))
        try backend.updateLayer(
            weights: fusedW, weightVelocity: fusedV, bias: fusedB, biasVelocity: fusedVb, delta: d, input: x, rows: rows, samples: rows,
            outputs: outputs, inputs: inputs, learningRate: 0.7, l2: l2, momentum: momentum)
        let metrics = try backend.makeBuffer([Float](repeating: -1, count: 6))
        try backend.batchMetrics(loss, activation: a, target: y, rows: rows, columns: outputs, into: metrics, slot: 1)
        // The training step's form: metrics and output delta in one call (fused on the device).
        let fusedDelta = try backend.makeBuffer(count: rows * outputs)
        let fusedMetrics = try backend.makeBuffer([Float](repeating: -1, count: 6))
        try backend.metricsAndOutputDelta(
            loss, output: function, activation: a, target: y, delta: fusedDelta, rows: rows, columns: outputs, into: fusedMetrics, slot: 2)
        return [
            "fusedOutputDelta": try backend.download(fusedDelta), "fusedMetrics": try backend.download(fusedMetrics),
            "activation": try backend.download(a), "outputDelta": outputDelta, "hiddenDelta": try backend.download(hidden),
            "weightGradient": try backend.download(gW), "biasGradient": try backend.download(gb),
            "weights": try backend.download(w), "velocity": try backend.download(v), "bias": try backend.download(b),
            "biasVelocity": try backend.download(vb), "metrics": try backend.download(metrics),
            "fusedWeightGradient": try backend.download(fusedGW), "fusedBiasGradient": try backend.download(fusedGb),
            "fusedWeights": try backend.download(fusedW), "fusedVelocity": try backend.download(fusedV),
            "fusedBias": try backend.download(fusedB), "fusedBiasVelocity": try backend.download(fusedVb),
        ]
    }

    /// Every optimizer's pass, three steps (so Adam's bias correction is checked past t = 1), from
    /// the same parameters, gradients and state, against the CPU backend.
    public static func optimizerChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        // Every rule, from `allCases`: the switch has no default, so a new rule must name its cases.
        let rules = Optimizer.Kind.allCases.flatMap { kind -> [(Optimizer, momentum: Float, l2: Float, decay: Float)] in
            switch kind {
            case .sgd: return [(.sgd, 0, 0.01, 0), (.sgd, 0.9, 0.01, 0)]
            case .nesterov: return [(.nesterov, 0.9, 0.01, 0)]
            case .adam: return [(.adam(), 0, 0.01, 0)]
            case .adamw: return [(.adamw(), 0, 0, 0.001 * 0.01)]
            case .rmsprop: return [(.rmsprop(), 0, 0.01, 0), (.rmsprop(alpha: 0.9, epsilon: 1e-6), 0.9, 0.01, 0)]
            }
        }
        let counts = depth == .quick ? [1, 17, 100] : [1, 17, 100, 78_400]
        var checks: [VerificationCheck] = []
        for (optimizer, momentum, l2, decay) in rules {
            for count in counts {
                checks.append(check("optimizer \(optimizer.name) μ=\(momentum) ×\(count)", tolerance: operationTolerance) {
                    var results: [[String: [Float]]] = []
                    for backend in [device as any Backend, cpu] {
                        let p = try backend.makeBuffer(uniform(count, seed: 21))
                        let state = try (0..<optimizer.stateBuffers(momentum: momentum)).map {
                            try backend.makeBuffer(uniform(count, seed: 22 + UInt64($0), in: 0...0.01))
                        }
                        for t in 1...3 {
                            let g = try backend.makeBuffer(uniform(count, seed: 30 + UInt64(t)))
                            let step = OptimizerStep(
                                optimizer: optimizer, learningRate: optimizer.defaultLearningRate / 10, momentum: momentum, l2: l2,
                                decoupledDecay: decay, step: t)
                            try backend.optimizerStep(step, parameters: p, gradient: g, state: state, count: count)
                        }
                        var outputs = ["parameters": try backend.download(p)]
                        for (i, buffer) in state.enumerated() { outputs["state \(i)"] = try backend.download(buffer) }
                        results.append(outputs)
                    }
                    var errors: [String: Double] = [:]
                    for (output, values) in results[1] { errors[output] = relativeError(results[0][output] ?? [], values) }
                    return worst(errors)
                })
            }
        }
        // An arena's one pass (the device's single launch over W0, b0, W1, b1 at odd sizes, some
        // shorter than a lane group): the same bits as a pass per tensor, and the CPU's values.
        for (optimizer, momentum, l2, decay) in rules {
            checks.append(check("optimizer arena \(optimizer.name) μ=\(momentum) 17×5, 17, 3×11, 3", tolerance: operationTolerance) {
                let counts = [85, 17, 33, 3]
                func run(_ backend: any Backend, onePass: Bool) throws -> [Float] {
                    let slots = optimizer.stateBuffers(momentum: momentum)
                    let parameters = try backend.makeBufferGroup(counts: counts), gradients = try backend.makeBufferGroup(counts: counts)
                    let state = try (0..<slots).map { _ in try backend.makeBufferGroup(counts: counts) }
                    try parameters.upload(counts.enumerated().map { uniform($1, seed: 51 + UInt64($0)) }, on: backend)
                    for (k, group) in state.enumerated() {
                        try group.upload(counts.enumerated().map { uniform($1, seed: 55 + UInt64(4 * $0 + k), in: 0...0.01) }, on: backend)
                    }
                    let arena = try ArenaBuffers(
                        parameters: parameters, gradients: gradients, state: state, decays: counts.indices.map { $0 % 2 == 0 }, backend: backend)
                    for step in 1...3 {
                        try gradients.upload(counts.enumerated().map { uniform($1, seed: 60 + UInt64(10 * step + $0)) }, on: backend)
                        let weightStep = OptimizerStep(
                            optimizer: optimizer, learningRate: optimizer.defaultLearningRate / 10, momentum: momentum, l2: l2,
                            decoupledDecay: decay, step: step)
                        let biasStep = weightStep.withoutWeightTerms
                        if onePass {
                            try backend.optimizerStep(weightStep: weightStep, biasStep: biasStep, arena: arena)
                        } else {
                            try backend.stepEachTensor(weightStep: weightStep, biasStep: biasStep, arena: arena)
                        }
                    }
                    var values: [Float] = []
                    for buffer in parameters.parts + state.flatMap(\.parts) { values += try backend.download(buffer) }
                    return values
                }
                let onePass = try run(device, onePass: true)
                guard onePass == (try run(device, onePass: false)) else { return (.infinity, "the arena's one pass differs from a pass per tensor") }
                return (relativeError(onePass, try run(cpu, onePass: false)), nil)
            })
        }
        // A layer's gradients and step in one call (on the device, Adam in the gradient product's
        // epilogue): the same bits as the gradients and then the step, and the CPU's values.
        for (optimizer, momentum, l2, decay) in rules {
            checks.append(check("optimizer gradient step \(optimizer.name) μ=\(momentum) δ 10×17, X 10×33", tolerance: operationTolerance) {
                let (rows, outputs, inputs) = (10, 17, 33)
                func run(_ backend: any Backend, fused: Bool) throws -> [Float] {
                    let w = try backend.makeBuffer(uniform(outputs * inputs, seed: 81, in: -0.5...0.5))
                    let b = try backend.makeBuffer(uniform(outputs, seed: 82))
                    let slots = optimizer.stateBuffers(momentum: momentum)
                    let ws = try (0..<slots).map { try backend.makeBuffer(uniform(outputs * inputs, seed: 83 + UInt64($0), in: 0...0.01)) }
                    let bs = try (0..<slots).map { try backend.makeBuffer(uniform(outputs, seed: 85 + UInt64($0), in: 0...0.01)) }
                    let gw = try backend.makeBuffer(count: outputs * inputs), gb = try backend.makeBuffer(count: outputs)
                    let x = try backend.makeBuffer(uniform(rows * inputs, seed: 87))
                    for t in 1...3 {
                        let d = try backend.makeBuffer(uniform(rows * outputs, seed: 90 + UInt64(t), in: -1...1))
                        let weightStep = OptimizerStep(
                            optimizer: optimizer, learningRate: optimizer.defaultLearningRate / 10, momentum: momentum, l2: l2,
                            decoupledDecay: decay, step: t)
                        let biasStep = weightStep.withoutWeightTerms
                        if fused {
                            try backend.gradientStepLayer(
                                weightStep: weightStep, weights: w, weightState: ws, biasStep: biasStep, bias: b, biasState: bs, delta: d,
                                input: x, weightGradient: gw, biasGradient: gb, rows: rows, samples: rows, outputs: outputs, inputs: inputs)
                        } else {
                            try backend.weightGradient(delta: d, input: x, gradient: gw, rows: rows, samples: rows, outputs: outputs, inputs: inputs)
                            try backend.biasGradient(delta: d, gradient: gb, rows: rows, samples: rows, outputs: outputs)
                            try backend.optimizerStep(weightStep, parameters: w, gradient: gw, state: ws, count: outputs * inputs)
                            try backend.optimizerStep(biasStep, parameters: b, gradient: gb, state: bs, count: outputs)
                        }
                    }
                    var values = try backend.download(w) + backend.download(b)
                    for buffer in ws + bs { values += try backend.download(buffer) }
                    return values
                }
                let fused = try run(device, fused: true)
                guard fused == (try run(device, fused: false)) else {
                    return (.infinity, "the layer's one-call gradients and step differ from the operations one by one")
                }
                return (relativeError(fused, try run(cpu, fused: false)), nil)
            })
        }
        return checks
    }

    /// Crop and flip augmentation: the device's images equal the CPU's bit for bit (the draws are
    /// integers, the values copies or zeros), at odd shapes, for rows read from an offset.
    public static func augmentChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        let shapes = depth == .quick ? [(1, 5, 7, 1), (3, 9, 8, 3)] : [(1, 5, 7, 1), (3, 9, 8, 3), (2, 28, 28, 4), (17, 3, 5, 2)]
        return shapes.flatMap { channels, height, width, padding in
            [Augmentation(cropPadding: padding, flip: true), Augmentation(cropPadding: padding), Augmentation(flip: true)].map { augmentation in
                check("augment \(augmentation) \(channels)×\(height)×\(width)", tolerance: 0) {
                    let size = channels * height * width, rows = 7, offset = 2
                    let order = (0..<(rows + offset)).map { Int32(($0 * 7919) % 1000) }
                    var results: [[Float]] = []
                    for backend in [device as any Backend, cpu] {
                        let indices = try backend.makeIndexBuffer(count: order.count)
                        try order.withUnsafeBufferPointer { try backend.uploadIndices($0, to: indices) }
                        let output = try backend.makeBuffer(count: rows * size)
                        try backend.augmentImages(
                            try backend.makeBuffer(uniform(rows * size, seed: 71)), into: output, indices: indices, offset: offset,
                            rows: rows, channels: channels, height: height, width: width, augmentation: augmentation,
                            key: Augmentation.key(5), epoch: 3)
                        results.append(try backend.download(output))
                    }
                    guard results[0].map(\.bitPattern) == results[1].map(\.bitPattern) else { return (.infinity, "the images differ") }
                    return (0, nil)
                }
            }
        }
    }

    /// Clipping by global norm, against float64 from the definition, on both backends: a norm it
    /// scales down (c = ‖g‖/3) and one it leaves alone (c = 3‖g‖), which must keep every bit.
    public static func clipChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        var checks: [VerificationCheck] = []
        for count in depth == .quick ? [1, 17, 1_031] : [1, 17, 1_031, 78_400] {
            for shrinks in [true, false] {
                checks.append(check("clip to global norm ×\(count)\(shrinks ? "" : ", above the norm")", tolerance: operationTolerance) {
                    let g = uniform(count, seed: 97, in: -1...1)
                    let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                    let maxNorm = Float(shrinks ? norm / 3 : norm * 3)
                    let coefficient = min(1, Double(maxNorm) / (norm + 1e-6))
                    let expected = g.map { Double($0) * coefficient }
                    var errors: [String: Double] = [:]
                    for (name, backend) in [("device", device as any Backend), ("cpu", cpu)] {
                        let x = try backend.makeBuffer(g)
                        try backend.clipToGlobalNorm(x, count: count, maxNorm: maxNorm)
                        let clipped = try backend.download(x)
                        if !shrinks, clipped != g { return (.infinity, "\(name): a norm under the limit changed the gradients") }
                        errors[name] = relativeError(clipped, expected)
                    }
                    return worst(errors)
                })
            }
        }
        return checks
    }

    /// Dropout masks drawn on the device equal the CPU's bit for bit, keep about 1 − p of the
    /// units, and the masked product matches.
    public static func dropoutChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        let counts = depth == .quick ? [1, 33, 1000] : [1, 33, 1000, 100_000]
        return counts.flatMap { count in
            [Float(0.2), 0.5].map { rate in
                check("dropout p=\(rate) ×\(count)", tolerance: 0) {
                    var masks: [[Float]] = [], products: [[Float]] = []
                    let values = uniform(count, seed: 40)
                    for backend in [device as any Backend, cpu] {
                        let mask = try backend.makeBuffer(count: count), x = try backend.makeBuffer(values)
                        try backend.dropoutMask(mask, count: count, rate: rate, scale: 1 / (1 - rate), seed: 0xB7E1_5162, step: 7, layer: 2)
                        let product = try backend.makeBuffer(count: count)
                        try backend.multiply(x, by: mask, into: product, count: count)
                        masks.append(try backend.download(mask))
                        products.append(try backend.download(product))
                    }
                    guard masks[0] == masks[1], products[0] == products[1] else { return (.infinity, "masks or products differ") }
                    let kept = Double(masks[0].filter { $0 != 0 }.count) / Double(count)
                    // Within 5 standard deviations of 1 − p (the binomial's), so a broken draw shows.
                    let sigma = (Double(rate) * Double(1 - rate) / Double(count)).squareRoot()
                    return abs(kept - Double(1 - rate)) <= 5 * sigma + 1e-9 ? (0, nil) : (.infinity, "kept \(kept) of the units")
                }
            }
        } + [
            // A process's shard of a batch draws, from its first element, the whole batch's masks.
            check("dropout shard 311..<688 of 1000", tolerance: 0) {
                let whole = DropoutMask.values(count: 1000, rate: 0.3, seed: 0xB7E1_5162, step: 9, layer: 1)
                for backend in [device as any Backend, cpu] {
                    let mask = try backend.makeBuffer(count: 377)
                    try backend.dropoutMask(
                        mask, count: 377, rate: 0.3, scale: 1 / (1 - 0.3), seed: 0xB7E1_5162, step: 9, layer: 1, firstElement: 311)
                    guard try backend.download(mask) == Array(whole[311..<688]) else { return (.infinity, "\(backend.description)'s shard differs") }
                }
                return (0, nil)
            }
        ]
    }
}
