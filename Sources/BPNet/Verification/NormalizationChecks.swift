import Foundation

extension Verification {
    /// Batch norm's three operations on the device and the CPU, against float64 from the
    /// definition, at odd shapes (one channel, 17 channels, many rows; two rows would leave every input gradient at rounding noise): the batch's
    /// statistics and the running ones they move, the normalisation with an activation, and the
    /// backward pass's γ, β and input gradients.
    public static func normalizationChecks(_ device: OpenCLBackend, cpu: any Backend, depth: Depth) -> [VerificationCheck] {
        let shapes = depth == .quick ? [(3, 1), (5, 17), (33, 5)] : [(3, 1), (5, 17), (33, 5), (1_000, 3), (6_272, 64)]
        return shapes.map { rows, channels in
            check("batch norm \(rows)×\(channels)", tolerance: operationTolerance) {
                let x = uniform(rows * channels, seed: 120, in: -2...3), delta = uniform(rows * channels, seed: 121, in: -1...1)
                let gamma = uniform(channels, seed: 122, in: 0.5...1.5), beta = uniform(channels, seed: 123, in: -0.5...0.5)
                let running = (uniform(channels, seed: 124, in: -1...1), uniform(channels, seed: 125, in: 0.5...2))
                let samples = rows % 3 == 0 ? rows / 3 : rows, epsilon = Float(1e-5), momentum = Float(0.1), f = Activation.leakyRelu
                // float64, from the definition.
                let n = Double(rows)
                let mean = (0..<channels).map { c in (0..<rows).reduce(0.0) { $0 + Double(x[$1 * channels + c]) } / n }
                let variance = (0..<channels).map { c in
                    (0..<rows).reduce(0.0) { $0 + pow(Double(x[$1 * channels + c]) - mean[c], 2) } / n
                }
                let inverseStd = variance.map { 1 / ($0 + Double(epsilon)).squareRoot() }
                let normalized = (0..<(rows * channels)).map { (Double(x[$0]) - mean[$0 % channels]) * inverseStd[$0 % channels] }
                let y = normalized.indices.map { f(Double(gamma[$0 % channels]) * normalized[$0] + Double(beta[$0 % channels])) }
                let sumDelta = (0..<channels).map { c in (0..<rows).reduce(0.0) { $0 + Double(delta[$1 * channels + c]) } }
                let sumProduct = (0..<channels).map { c in
                    (0..<rows).reduce(0.0) { $0 + Double(delta[$1 * channels + c]) * normalized[$1 * channels + c] }
                }
                let inputGradient = normalized.indices.map { i in
                    let c = i % channels
                    return Double(gamma[c]) * inverseStd[c] * (Double(delta[i]) - sumDelta[c] / n - normalized[i] * sumProduct[c] / n)
                }
                let m = Double(momentum), unbiased = rows > 1 ? n / (n - 1) : 1
                let expected: [String: [Double]] = [
                    "mean": mean, "variance": variance,
                    "running mean": (0..<channels).map { (1 - m) * Double(running.0[$0]) + m * mean[$0] },
                    "running variance": (0..<channels).map { (1 - m) * Double(running.1[$0]) + m * variance[$0] * unbiased },
                    "y": y, "scale gradient": sumProduct.map { $0 / Double(samples) }, "shift gradient": sumDelta.map { $0 / Double(samples) },
                    "input gradient": inputGradient,
                ]
                var results: [[String: [Float]]] = []
                for backend in [device as any Backend, cpu] {
                    let input = try backend.makeBuffer(x), output = try backend.makeBuffer(count: rows * channels)
                    let (batchMean, batchVariance) = (try backend.makeBuffer(count: channels), try backend.makeBuffer(count: channels))
                    let (runningMean, runningVariance) = (try backend.makeBuffer(running.0), try backend.makeBuffer(running.1))
                    let (scale, shift) = (try backend.makeBuffer(gamma), try backend.makeBuffer(beta))
                    try backend.normalizationStatistics(
                        input, rows: rows, channels: channels, mean: batchMean, variance: batchVariance, runningMean: runningMean,
                        runningVariance: runningVariance, momentum: momentum)
                    try backend.normalize(
                        input, rows: rows, channels: channels, mean: batchMean, variance: batchVariance, scale: scale, shift: shift,
                        epsilon: epsilon, into: output, activation: f)
                    let (scaleGradient, shiftGradient) = (try backend.makeBuffer(count: channels), try backend.makeBuffer(count: channels))
                    let gradient = try backend.makeBuffer(count: rows * channels)
                    try backend.normalizationBackward(
                        try backend.makeBuffer(delta), x: input, rows: rows, channels: channels, samples: samples, mean: batchMean,
                        variance: batchVariance, scale: scale, epsilon: epsilon, scaleGradient: scaleGradient, shiftGradient: shiftGradient,
                        into: gradient)
                    results.append([
                        "mean": try backend.download(batchMean), "variance": try backend.download(batchVariance),
                        "running mean": try backend.download(runningMean), "running variance": try backend.download(runningVariance),
                        "y": try backend.download(output), "scale gradient": try backend.download(scaleGradient),
                        "shift gradient": try backend.download(shiftGradient), "input gradient": try backend.download(gradient),
                    ])
                }
                var errors: [String: Double] = [:]
                for (name, values) in expected {
                    errors[name] = relativeError(results[0][name] ?? [], values)
                    errors["\(name) (cpu)"] = relativeError(results[1][name] ?? [], values)
                }
                return worst(errors)
            }
        }
    }
}
