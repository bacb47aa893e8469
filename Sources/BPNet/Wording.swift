/// The library's version, as `bpnet --version` prints it.
public let bpnetVersion = "0.3.0"

/// "1 epoch", "3 epochs": a count with its noun, singular for exactly one.
public func counted(_ count: Int, _ singular: String, plural: String? = nil) -> String {
    "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
}
