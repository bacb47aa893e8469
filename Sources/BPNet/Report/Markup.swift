import Foundation

/// Text and numbers for the report's HTML and SVG.
enum Markup {
    /// `text` with the five characters markup gives meaning to escaped, so a class name or setting
    /// such as `<b>` shows as written and can neither open an element nor end an attribute.
    /// Control characters, which XML 1.0 forbids even escaped, become U+FFFD.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// A coordinate or length: at most two decimals, no trailing zeros. Callers only pass finite
    /// values; anything else becomes 0 rather than "nan", which would break the whole drawing.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        guard abs(value) < 1e12 else { return String(format: "%.0f", value) }
        let rounded = (value * 100).rounded() / 100 + 0.0  // + 0.0: never "-0"
        if rounded == rounded.rounded() { return "\(Int(rounded))" }
        var text = String(format: "%.2f", rounded)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    /// A loss as the CLI's table prints it, "–" when there is none.
    static func loss(_ value: Double?) -> String {
        value.map { String(format: "%.6f", $0) } ?? "–"
    }

    /// A fraction as a percentage with two decimals, "–" when there is none.
    static func percent(_ value: Double?) -> String {
        value.map { String(format: "%.2f %%", $0 * 100) } ?? "–"
    }
}
