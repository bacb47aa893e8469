import Foundation

/// confusion.svg: the confusion matrix as a heat map, true classes down, predictions across.
/// A cell's shade is its share of the true class's samples, so a rare class's errors show as
/// clearly as a common one's; its text is the count.
enum ConfusionSVG {
    /// Cell text is left out past this many classes, where cells are too small to read.
    static let maxClassesWithText = 30
    /// Past this many classes the grid shows blocks of consecutive classes, so that a page stays
    /// within 256² cells whatever the class count.
    static let maxCells = 256
    /// The grid's largest side in pixels, and its largest cell.
    static let gridSide = 560.0
    static let maxCell = 48.0

    /// White for none of a row's samples to dark purple for all of them. Purple is far from every
    /// series color of the curves, so the two drawings can be told apart in a screenshot.
    static func shade(_ share: Double) -> (red: Int, green: Int, blue: Int) {
        let t = min(1, max(0, share.isFinite ? share : 0))
        return (Int((255 - 171 * t).rounded()), Int((255 - 216 * t).rounded()), Int((255 - 112 * t).rounded()))
    }

    static func svg(_ matrix: ConfusionMatrix, standalone: Bool) -> String {
        let k = matrix.classes
        let group = (k + maxCells - 1) / maxCells  // classes per block: 1 up to maxCells classes
        let side = (k + group - 1) / group
        // Sums cannot overflow: the whole matrix's total is checked to fit in an Int.
        var cells = [Int](repeating: 0, count: side * side)
        for target in 0..<k {
            for predicted in 0..<k {
                cells[(target / group) * side + predicted / group] += matrix.counts[target * k + predicted]
            }
        }
        let rowTotals = (0..<side).map { row in cells[(row * side)..<((row + 1) * side)].reduce(0, +) }
        let names = (0..<side).map { block -> String in
            if group == 1 { return matrix.name(block) }
            return "\(block * group)–\(min(k, (block + 1) * group) - 1)"
        }
        // Labels longer than this are cut, so one long name cannot push the grid off the page.
        let shown = names.map { $0.count > 24 ? String($0.prefix(23)) + "…" : $0 }

        let cell = min(maxCell, gridSide / Double(side))
        let grid = cell * Double(side)
        let labelEvery = max(1, Int((13 / cell).rounded(.up)))  // labels at least 13 px apart
        let labelWidth = min(170, 7 * Double(shown.map(\.count).max() ?? 1) + 8)  // about 7 px a character at 12 px
        let left = 30 + labelWidth, top = 34 + labelWidth * 0.72
        var caption = "rows: true class, columns: predicted; shade: share of the true class's samples"
        if group > 1 { caption += "; classes in blocks of \(group)" }
        if let accuracy = matrix.accuracy {
            caption += String(format: "; accuracy %.2f %%", accuracy * 100) + " of \(matrix.total)"
        }
        // Wide enough for the rotated column labels and for the caption (about 6.5 px a character).
        let width = max(left + grid + labelWidth * 0.72 + 16, left + 6.5 * Double(caption.count) + 16)
        let height = top + grid + 40
        let withText = side == k && k <= maxClassesWithText
        let digits = Double("\(cells.max() ?? 0)".count)
        let fontSize = min(12, cell * 0.9 / (0.62 * max(2, digits)), cell * 0.6)
        let n = Markup.number

        var svg = "<svg\(standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : "") class=\"confusion\" "
            + "width=\"\(n(width))\" height=\"\(n(height))\" viewBox=\"0 0 \(n(width)) \(n(height))\" "
            + "font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\" role=\"img\" "
            + "aria-label=\"confusion matrix of \(k) classes\" data-classes=\"\(k)\">\n"
        svg += "<rect width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#fff\"/>\n"
        svg += "<text x=\"\(n(left + grid / 2))\" y=\"16\" text-anchor=\"middle\" font-weight=\"bold\">predicted class</text>\n"
        let middle = top + grid / 2
        svg += "<text x=\"14\" y=\"\(n(middle))\" text-anchor=\"middle\" font-weight=\"bold\" "
            + "transform=\"rotate(-90 14 \(n(middle)))\">true class</text>\n"
        for index in stride(from: 0, to: side, by: labelEvery) {
            let center = Double(index) * cell + cell / 2
            let name = Markup.escape(shown[index])
            svg += "<text class=\"row-label\" x=\"\(n(left - 6))\" y=\"\(n(top + center + 4))\" text-anchor=\"end\">\(name)</text>"
            let (cx, cy) = (left + center, top - 6)
            svg += "<text class=\"column-label\" x=\"\(n(cx))\" y=\"\(n(cy))\" transform=\"rotate(-45 \(n(cx)) \(n(cy)))\">\(name)</text>\n"
        }
        svg += "<g class=\"cells\">\n"
        for row in 0..<side {
            for column in 0..<side {
                let count = cells[row * side + column]
                let share = rowTotals[row] > 0 ? Double(count) / Double(rowTotals[row]) : 0
                let color = shade(share)
                let (x, y) = (left + Double(column) * cell, top + Double(row) * cell)
                svg += "<rect class=\"cell\" data-target=\"\(row)\" data-predicted=\"\(column)\" data-count=\"\(count)\" "
                    + "x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(cell))\" height=\"\(n(cell))\" "
                    + String(format: "fill=\"#%02x%02x%02x\"", color.red, color.green, color.blue)
                if withText {
                    // A tooltip, as the page has no script.
                    svg += "><title>true \(Markup.escape(names[row])), predicted \(Markup.escape(names[column])): \(count)</title></rect>"
                    svg += "<text x=\"\(n(x + cell / 2))\" y=\"\(n(y + cell / 2 + fontSize * 0.35))\" text-anchor=\"middle\" "
                        + "font-size=\"\(n(fontSize))\" fill=\"\(share > 0.5 ? "#fff" : "#222")\">\(count)</text>\n"
                } else {
                    svg += "/>\n"
                }
            }
        }
        svg += "</g>\n"
        svg += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(grid))\" height=\"\(n(grid))\" fill=\"none\" stroke=\"#444\"/>\n"
        svg += "<text x=\"\(n(left))\" y=\"\(n(top + grid + 24))\">\(Markup.escape(caption))</text>\n"
        return svg + "</svg>\n"
    }
}
