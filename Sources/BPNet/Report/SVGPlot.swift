import Foundation

/// A plot axis over finite values: the values' range widened to whole steps of 1, 2 or 5 × 10ⁿ,
/// with a tick at each step. A single value (one epoch, a constant loss) gets a range around it,
/// so no scale divides by zero; values that are not finite are left out.
struct Axis {
    var lower: Double
    var upper: Double
    var ticks: [Double]
    /// The tick spacing, or nil where the range is too wide for round steps and only its ends are ticked.
    var step: Double?

    init(_ values: [Double], integral: Bool = false, ticks target: Int = 5) {
        let finite = values.filter(\.isFinite)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        // A range this narrow is one value to the eye, and would give steps below the values' precision.
        if hi - lo <= max(abs(lo), abs(hi)) * 1e-9 {
            let pad = integral ? max(1, abs(lo) * 0.05) : (lo == 0 ? 1 : abs(lo) * 0.05)
            lo -= pad
            hi += pad
            if !(hi > lo) { (lo, hi) = (lo - 1, hi + 1) }  // a pad lost to rounding (subnormal values)
        }
        // Halves, so that the span of values near ±Double.greatestFiniteMagnitude stays finite.
        let raw = (hi / 2 - lo / 2) / Double(target) * 2
        let exponent = log10(raw).rounded(.down)
        let power = pow(10, exponent)
        let fraction = raw / power
        var step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power
        if integral { step = max(step, 1).rounded() }
        // A quotient a rounding error away from a whole number is that number (0.31 / 0.01 is
        // 30.999…96), or the axis would gain a step it does not need.
        func steps(_ value: Double, _ rule: FloatingPointRoundingRule) -> Double {
            let quotient = value / step, whole = quotient.rounded()
            return abs(quotient - whole) <= 1e-9 * max(1, abs(quotient)) ? whole : quotient.rounded(rule)
        }
        let lower = steps(lo, .down) * step, upper = steps(hi, .up) * step
        let count = (upper / step - lower / step).rounded()
        guard step.isFinite, step > 0, lower.isFinite, upper.isFinite, count >= 1, count <= 50 else {
            (self.lower, self.upper, self.ticks, self.step) = (lo, hi, [lo, hi], nil)
            return
        }
        (self.lower, self.upper, self.step) = (lower, upper, step)
        ticks = (0...Int(count)).map { lower + Double($0) * step }
    }

    /// Where `value` lies from `lower` (0) to `upper` (1), clamped to the axis.
    func fraction(_ value: Double) -> Double {
        let span = upper / 2 - lower / 2
        guard span > 0, value.isFinite else { return 0.5 }
        return min(1, max(0, (value / 2 - lower / 2) / span))
    }

    /// A tick's label, with as many decimals as the step needs.
    func label(_ value: Double) -> String {
        let value = value + 0.0  // never "-0"
        guard let step, max(abs(lower), abs(upper)) < 1e6, step >= 1e-4 else { return String(format: "%.4g", value) }
        let decimals = step >= 1 ? 0 : Int((-log10(step) - 1e-9).rounded(.up))
        return String(format: "%.\(decimals)f", value)
    }
}

/// A line chart: series of points over shared axes, with ticks, a grid, axis titles and a legend.
/// Each series is one `<path>` whose attributes say what it is (`class="series train-loss"`,
/// `data-points`), so the drawing can be checked from the page.
struct LineChart {
    struct Series {
        var name: String
        /// Names the series in class attributes, such as "train-loss".
        var key: String
        var color: String
        /// One per epoch; nil or a value that is not finite leaves a gap.
        var points: [(x: Double, y: Double?)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]

    /// Above this many points a series is a bare line; below it each point also gets a dot, so
    /// that a single epoch, or a point between two gaps, is still seen.
    static let maxMarkedPoints = 60

    /// A `<g>` that draws the chart in the box from (`left`, `top`), `width` × `height` wide.
    func svg(left: Double, top: Double, width: Double, height: Double) -> String {
        let n = Markup.number
        let plotLeft = left + 64, plotRight = left + width - 16, plotTop = top + 32, plotBottom = top + height - 80
        let x = Axis(series.flatMap { $0.points.map(\.x) }, integral: true, ticks: 6)
        let y = Axis(series.flatMap { $0.points.compactMap(\.y) })
        func px(_ value: Double) -> Double { plotLeft + x.fraction(value) * (plotRight - plotLeft) }
        func py(_ value: Double) -> Double { plotBottom - y.fraction(value) * (plotBottom - plotTop) }

        var svg = "<g class=\"chart\" data-title=\"\(Markup.escape(title))\">\n"
        svg += "<text x=\"\(n(left + width / 2))\" y=\"\(n(top + 18))\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(Markup.escape(title))</text>\n"
        // The grid and the y ticks.
        for tick in y.ticks {
            let ty = py(tick)
            svg += "<line x1=\"\(n(plotLeft))\" y1=\"\(n(ty))\" x2=\"\(n(plotRight))\" y2=\"\(n(ty))\" stroke=\"#e4e4e4\"/>"
            svg += "<text x=\"\(n(plotLeft - 6))\" y=\"\(n(ty + 4))\" text-anchor=\"end\">\(Markup.escape(y.label(tick)))</text>\n"
        }
        for tick in x.ticks {
            let tx = px(tick)
            svg += "<line x1=\"\(n(tx))\" y1=\"\(n(plotBottom))\" x2=\"\(n(tx))\" y2=\"\(n(plotBottom + 5))\" stroke=\"#444\"/>"
            svg += "<text x=\"\(n(tx))\" y=\"\(n(plotBottom + 19))\" text-anchor=\"middle\">\(Markup.escape(x.label(tick)))</text>\n"
        }
        svg += "<path class=\"axes\" d=\"M\(n(plotLeft)),\(n(plotTop)) V\(n(plotBottom)) H\(n(plotRight))\" fill=\"none\" stroke=\"#444\"/>\n"
        svg += "<text x=\"\(n((plotLeft + plotRight) / 2))\" y=\"\(n(plotBottom + 38))\" text-anchor=\"middle\">\(Markup.escape(xLabel))</text>\n"
        let yMiddle = (plotTop + plotBottom) / 2
        svg += "<text x=\"\(n(left + 14))\" y=\"\(n(yMiddle))\" text-anchor=\"middle\" transform=\"rotate(-90 \(n(left + 14)) \(n(yMiddle)))\">\(Markup.escape(yLabel))</text>\n"

        for line in series {
            var d: [String] = []
            var drawn: [(x: Double, y: Double)] = []
            var isolated: [Bool] = []
            var gap = true
            for (index, point) in line.points.enumerated() {
                guard let value = point.y, value.isFinite, point.x.isFinite else {
                    gap = true
                    continue
                }
                let (cx, cy) = (px(point.x), py(value))
                d.append("\(gap ? "M" : "L")\(n(cx)),\(n(cy))")
                let next = index + 1 < line.points.count ? line.points[index + 1].y : nil
                isolated.append(gap && !(next?.isFinite ?? false))
                drawn.append((cx, cy))
                gap = false
            }
            let key = Markup.escape(line.key), color = Markup.escape(line.color)
            svg += "<path class=\"series \(key)\" data-series=\"\(Markup.escape(line.name))\" data-points=\"\(drawn.count)\" "
                + "d=\"\(d.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2.5\" "
                + "stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n"
            let marked = drawn.indices.filter { drawn.count <= Self.maxMarkedPoints || isolated[$0] }
            if !marked.isEmpty {
                svg += "<g class=\"markers \(key)\" fill=\"\(color)\">"
                    + marked.map { "<circle cx=\"\(n(drawn[$0].x))\" cy=\"\(n(drawn[$0].y))\" r=\"3.5\"/>" }.joined()
                    + "</g>\n"
            }
        }

        // The legend, under the x axis's title.
        let legendY = plotBottom + 62
        svg += "<g class=\"legend\">"
        for (index, line) in series.enumerated() {
            let lx = plotLeft + Double(index) * 120
            svg += "<line x1=\"\(n(lx))\" y1=\"\(n(legendY - 4))\" x2=\"\(n(lx + 24))\" y2=\"\(n(legendY - 4))\" "
                + "stroke=\"\(Markup.escape(line.color))\" stroke-width=\"2.5\"/>"
            svg += "<text x=\"\(n(lx + 30))\" y=\"\(n(legendY))\">\(Markup.escape(line.name))</text>"
        }
        svg += "</g>\n</g>\n"
        return svg
    }
}
