/// curves.svg: loss and accuracy against the epoch, side by side, one line per data set.
enum CurvesSVG {
    static let width = 1000.0
    static let height = 360.0

    /// The data sets in the order they are drawn, with the colors of their lines.
    static var sets: [(name: String, color: String, loss: (EpochReport) -> Double?, accuracy: (EpochReport) -> Double?)] {
        [
            ("train", "#1f77b4", { $0.trainLoss }, { $0.trainAccuracy }),
            ("validation", "#ff7f0e", { $0.validationLoss }, { $0.validationAccuracy }),
            ("test", "#2ca02c", { $0.testLoss }, { $0.testAccuracy }),
        ]
    }

    /// The drawing; `standalone` adds the namespace a file needs and a page does not.
    static func svg(_ epochs: [EpochReport], standalone: Bool) -> String {
        func series(_ metric: String, scale: Double) -> [LineChart.Series] {
            sets.compactMap { set in
                let field = metric == "loss" ? set.loss : set.accuracy
                // A data set is drawn when any epoch measured it.
                guard epochs.contains(where: { field($0) != nil }) else { return nil }
                return LineChart.Series(
                    name: set.name, key: "\(set.name)-\(metric)", color: set.color,
                    points: epochs.map { (Double($0.epoch), field($0).map { $0 * scale }) })
            }
        }
        let loss = LineChart(title: "Loss", xLabel: "epoch", yLabel: "loss", series: series("loss", scale: 1))
        let accuracy = LineChart(
            title: "Accuracy", xLabel: "epoch", yLabel: "accuracy (%)", series: series("accuracy", scale: 100))
        let n = Markup.number
        var svg = "<svg\(standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : "") class=\"curves\" "
            + "width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" "
            + "font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\" role=\"img\" aria-label=\"loss and accuracy by epoch\">\n"
        svg += "<rect width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#fff\"/>\n"
        if epochs.isEmpty {
            svg += "<text x=\"\(n(width / 2))\" y=\"\(n(height / 2))\" text-anchor=\"middle\">no epochs</text>\n"
        } else {
            svg += loss.svg(left: 0, top: 0, width: width / 2, height: height)
            svg += accuracy.svg(left: width / 2, top: 0, width: width / 2, height: height)
        }
        return svg + "</svg>\n"
    }
}
