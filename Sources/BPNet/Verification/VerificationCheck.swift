/// One parity check of a device against the CPU backend and, where one exists, a float64
/// reference: what was compared, how far apart it came out, and the bound it had to meet.
public struct VerificationCheck: Sendable, Equatable, Encodable, CustomStringConvertible {
    /// e.g. `gemm vector tn 17×3×33`; unique within one run.
    public var name: String
    /// The largest relative-error norm ‖x − y‖₂ / ‖y‖₂ over the outputs the check compares
    /// (infinite when a count differs or the check could not run).
    public var maxRelativeError: Double
    public var tolerance: Double
    public var passed: Bool
    /// Which output was worst, or why the check could not run, with its fix where one is known.
    public var detail: String?

    public init(name: String, maxRelativeError: Double, tolerance: Double, detail: String? = nil) {
        self.name = name
        self.maxRelativeError = maxRelativeError
        self.tolerance = tolerance
        passed = maxRelativeError <= tolerance
        self.detail = detail
    }

    /// A check that threw before it could compare anything.
    init(name: String, tolerance: Double, failure: Error) {
        self.init(name: name, maxRelativeError: .infinity, tolerance: tolerance, detail: Verification.explain(failure))
    }

    enum CodingKeys: String, CodingKey {
        case name, tolerance, passed, detail
        case maxRelativeError = "max_relative_error"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        // JSON has no infinity: a check that could not compare reports null.
        try container.encode(maxRelativeError.isFinite ? maxRelativeError : nil, forKey: .maxRelativeError)
        try container.encode(tolerance, forKey: .tolerance)
        try container.encode(passed, forKey: .passed)
        try container.encodeIfPresent(detail, forKey: .detail)
    }

    /// `name  error  ≤ tolerance  pass` as `bpnet verify` prints it.
    public var description: String {
        let error = maxRelativeError.isFinite ? String(format: "%.2e", maxRelativeError) : "-"
        let line = "\(name.padding(toLength: max(name.count, 52), withPad: " ", startingAt: 0))  "
            + "\(error.padding(toLength: 9, withPad: " ", startingAt: 0))  ≤ \(String(format: "%.0e", tolerance))  "
            + (passed ? "pass" : "FAIL")
        return detail.map { line + "  (\($0))" } ?? line
    }
}

/// The relative-error norm ‖a − b‖₂ / ‖b‖₂, in double precision; with ‖b‖ = 0, the absolute norm.
public func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(a, b) {
        difference += (x - y) * (x - y)
        norm += y * y
    }
    let error = norm == 0 ? difference.squareRoot() : (difference / norm).squareRoot()
    return error.isNaN ? .infinity : error
}

public func relativeError(_ a: [Float], _ b: [Double]) -> Double { relativeError(a.map(Double.init), b) }
public func relativeError(_ a: [Float], _ b: [Float]) -> Double { relativeError(a.map(Double.init), b.map(Double.init)) }
